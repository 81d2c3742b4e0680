package readme

import (
	"strings"
	"testing"

	"msglabs/checker/kittest"
	"msglabs/checker/lab"
	"msglabs/shared/story"
)

func TestTableAndReplace(t *testing.T) {
	labs := []lab.Lab{{Number: 1, Slug: "01-a", Title: "A", Failure: "LOST", Summary: "x | y"}}
	in := []byte("# kit\n<!-- labs:begin (generated) -->\nold\n<!-- labs:end -->\ntail\n")
	out, err := Replace(File, in, tableBegin, tableEnd, Table(labs))
	if err != nil {
		t.Fatal(err)
	}
	want := "# kit\n<!-- labs:begin (generated) -->\n| # | lab | the starter shows | what goes wrong |\n|---|---|---|---|\n" +
		"| 1 | [A](labs/01-a/README.md) | **LOST** | x \\| y |\n<!-- labs:end -->\ntail\n"
	if string(out) != want {
		t.Fatalf("got:\n%s\nwant:\n%s", out, want)
	}
	if _, err := Replace(File, []byte("no markers"), tableBegin, tableEnd, ""); err == nil || !strings.Contains(err.Error(), "README.md has no") {
		t.Fatalf("no markers: %v", err)
	}
	if _, err := Replace(File, []byte("<!-- labs:end -->\n<!-- labs:begin x\n"), tableBegin, tableEnd, ""); err == nil {
		t.Fatal("no error for an end line before the begin line")
	}
}

func TestMarkerTableExplainsEveryStoryMarker(t *testing.T) {
	table := MarkerTable()
	for _, m := range story.Markers {
		if Meanings[m] == "" || !strings.Contains(table, "| **"+string(m)+"** | "+Meanings[m]+" |") {
			t.Fatalf("marker %s is not explained:\n%s", m, table)
		}
	}
}

const kitReadme = "# kit\n\nOne shop across fifteen labs.\n\n<!-- labs:begin -->\n<!-- labs:end -->\n\n<!-- markers:begin -->\n<!-- markers:end -->\n"

func TestSyncDerivesEveryGeneratedPart(t *testing.T) {
	root := kittest.New(t)
	kittest.Write(t, root, map[string]string{
		File:                       kitReadme,
		"labs/01-first/README.md":  "# Lab 9 · Old title\n\nThe story.\n",
		"labs/02-second/README.md": "The story, no heading.\n\n<!-- next:begin (generated) -->\nNext: somewhere\n<!-- next:end -->\n",
	})
	c, err := lab.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	probs := strings.Join(Check(c), "\n")
	for _, want := range []string{"README.md: the lab table differs", "README.md: the marker table differs",
		"README.md: the lab count in prose differs", "labs/01-first/README.md: the heading differs",
		"labs/01-first/README.md: the Next: line differs", "labs/02-second/README.md: the Next: line differs"} {
		if !strings.Contains(probs, want) {
			t.Fatalf("Check:\n%s\nwant %q", probs, want)
		}
	}
	changed, err := Sync(c)
	if err != nil || len(changed) != 3 {
		t.Fatalf("Sync = %v, %v; want three files", changed, err)
	}
	kit := kittest.Read(t, root, File)
	for _, want := range []string{"One shop across two labs.", "| 2 | [Second: the sequel](labs/02-second/README.md) | **DUPLICATE** |  |",
		"| **STALLED** | "} {
		if !strings.Contains(kit, want) {
			t.Fatalf("README:\n%s\nwant %q", kit, want)
		}
	}
	first := kittest.Read(t, root, "labs/01-first/README.md")
	if !strings.HasPrefix(first, "# Lab 1 · First lab\n\nThe story.\n\n<!-- next:begin") ||
		!strings.Contains(first, "Next: [lab 2 · Second: the sequel](../02-second/README.md).\n<!-- next:end -->\n") {
		t.Fatalf("lab 1 README:\n%s", first)
	}
	second := kittest.Read(t, root, "labs/02-second/README.md")
	if !strings.HasPrefix(second, "# Lab 2 · Second: the sequel\n\nThe story") || !strings.Contains(second, "that was the last lab") {
		t.Fatalf("lab 2 README:\n%s", second)
	}
	if probs := Check(c); len(probs) != 0 {
		t.Fatalf("after Sync: %q", probs)
	}
	if changed, err := Sync(c); err != nil || len(changed) != 0 {
		t.Fatalf("second Sync = %v, %v", changed, err)
	}
}

func TestCountInProse(t *testing.T) {
	cases := map[string]string{
		"across fifteen labs.":       "across sixteen labs.",
		"Fifteen labs, one shop":     "Sixteen labs, one shop",
		"all 15 labs":                "all sixteen labs",
		"the first two labs stay":    "the first two labs stay",
		"fifteen numbered labs":      "sixteen numbered labs",
		"fifteen lab folders remain": "fifteen lab folders remain",
	}
	for in, want := range cases {
		if got := string(setCount([]byte(in), 16)); got != want {
			t.Errorf("setCount(%q) = %q, want %q", in, got, want)
		}
	}
	if Spell(25) != "25" || Spell(12) != "twelve" {
		t.Fatalf("Spell(25) = %q, Spell(12) = %q", Spell(25), Spell(12))
	}
}

const labReadme = "# Lab 1 · First lab\n\n## The failure\n\n" +
	"<!-- output: TestLost -->\n```\nLOST: order o-17 went wrong after 12ms,\nwrapped here\n  detail line\n\ntimeline:\n```\n\n" +
	"  <!-- output: TestRace varies: book|gift-wrap -->\n  ```\n  LOST: item book was lost\n  ```\n\n" +
	"```\nDUPLICATE: not annotated\n```\n"

func TestOutputsReadsAnnotatedHeadlines(t *testing.T) {
	outs := Outputs([]byte(labReadme))
	if len(outs) != 2 {
		t.Fatalf("Outputs = %+v; want 2", outs)
	}
	if o := outs[0]; o.Test != "TestLost" || o.Line != 7 || o.Lines != 2 || o.Headline != "LOST: order o-17 went wrong after 12ms, wrapped here" {
		t.Fatalf("first = %+v", o)
	}
	if o := outs[1]; o.Test != "TestRace" || o.Headline != "LOST: item book was lost" || strings.Join(o.Varies, ",") != "book,gift-wrap" {
		t.Fatalf("second = %+v", o)
	}
	if !outs[0].Same("LOST: order o-17 went wrong after 250ms, wrapped here") {
		t.Fatal("a different duration made the headline differ")
	}
	if outs[0].Same("LOST: order o-18 went wrong after 12ms, wrapped here") {
		t.Fatal("a different order id went unnoticed")
	}
	if !outs[1].Same("LOST: item gift-wrap was lost") || outs[1].Same("LOST: item pen was lost") {
		t.Fatal("varies: only the listed words may stand in for each other")
	}
	if got := MarkerLines([]byte(labReadme)); len(got) != 3 || got[0] != 7 || got[2] != 20 {
		t.Fatalf("MarkerLines = %v; want lines 7, 15, 20", got)
	}
}

func TestSetOutputsRewritesOnlyWhatChanged(t *testing.T) {
	real := map[string]string{
		"TestLost": "LOST: order o-17 was never billed: " + strings.Repeat("long words ", 12) + "end",
		"TestRace": "LOST: item gift-wrap was lost",
	}
	out := string(SetOutputs([]byte(labReadme), real))
	if !strings.Contains(out, "```\nLOST: order o-17 was never billed: long words") || strings.Contains(out, "wrapped here") ||
		!strings.Contains(out, "end\n  detail line\n") {
		t.Fatalf("SetOutputs:\n%s", out)
	}
	for _, line := range strings.Split(out, "\n") {
		if len([]rune(line)) > Wrap {
			t.Fatalf("line longer than %d: %q", Wrap, line)
		}
	}
	if !strings.Contains(out, "  LOST: item book was lost") {
		t.Fatalf("a headline that differs only in a varying word was rewritten:\n%s", out)
	}
}
