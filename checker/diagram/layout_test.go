package diagram

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func laneNames(d Diagram) []string {
	var out []string
	for _, l := range d.Lanes {
		out = append(out, l.Name)
	}
	return out
}

func TestBuildPlacesPublishersLeftOfTheBrokerAndConsumersRight(t *testing.T) {
	d := Build(load(t, "synthetic-every-kind"))
	got := strings.Join(laneNames(d), " ")
	if want := "test customer clientui broker sales sales#2"; got != want {
		t.Fatalf("lanes are %q, want %q", got, want)
	}
}

func TestBuildLab5ShowsCrashRedeliveryAndSecondCharge(t *testing.T) {
	d := Build(load(t, "lab05-redelivery"))
	if got, want := strings.Join(laneNames(d), " "), "sales broker billing billing#2"; got != want {
		t.Fatalf("lanes are %q, want %q (the test lane only has the verdict, so it is left out)", got, want)
	}
	billing, second := d.Lanes[2], d.Lanes[3]
	crash := d.Rows[billing.End]
	if billing.End < 0 || crash.Kind != MarkRow || crash.Mark != Crashed || !strings.Contains(crash.Label, `"after-commit"`) {
		t.Fatalf("billing's lane does not end in the crash at after-commit: end row %d = %+v", billing.End, crash)
	}
	if second.First <= billing.End {
		t.Errorf("billing#2's lane starts at row %d, before billing crashed at row %d", second.First, billing.End)
	}
	var redelivered, charges, repeats, failures int
	for _, r := range d.Rows {
		switch {
		case r.Kind == ArrowRow && r.Style == Redelivered:
			redelivered++
			if d.Lanes[r.From].Name != BrokerLane || d.Lanes[r.To].Name != "billing#2" {
				t.Errorf("the redelivery goes from %s to %s, want broker to billing#2", d.Lanes[r.From].Name, d.Lanes[r.To].Name)
			}
		case r.Kind == NoteRow && strings.HasPrefix(r.Text, "charged o-1"):
			charges++
			if r.Style == Repeat {
				repeats++
			}
		case r.Kind == FailureRow:
			failures++
		}
	}
	if redelivered != 1 || charges != 2 || repeats != 1 || failures != 1 {
		t.Errorf("lab 5's diagram has %d redelivery arrow(s), %d charge note(s) of which %d marked as a repeat, "+
			"%d verdict row(s); want 1, 2, 1, 1", redelivered, charges, repeats, failures)
	}
}

func TestBuildFoldsSetupIntoOneRow(t *testing.T) {
	d := Build(load(t, "lab05-redelivery"))
	first := d.Rows[0]
	if first.Style != Setup || first.Label != "declare sales, billing · bind billing · consume billing" {
		t.Fatalf("the first row is %q (%s), want billing's declares, bind, prefetch and consume folded into one", first.Label, first.Style)
	}
	if !strings.Contains(first.Text, "prefetch set to 1") {
		t.Errorf("the folded setup row lost the prefetch line from its text: %q", first.Text)
	}
}

func TestBuildAddsTheVerdictWhenNoFailureEventWasExported(t *testing.T) {
	r := load(t, "lab05-redelivery")
	r.Events = r.Events[:len(r.Events)-1] // without the failure event
	d := Build(r)
	last := d.Rows[len(d.Rows)-1]
	if last.Kind != FailureRow || !strings.HasPrefix(last.Label, "DUPLICATE: order o-1") {
		t.Fatalf("the last row is %+v, want the verdict built from the marker and headline", last)
	}
}

func TestBuildMarksRepeatsOnlyInDuplicateFailures(t *testing.T) {
	r := load(t, "lab05-redelivery")
	r.Marker = "LOST"
	for _, row := range Build(r).Rows {
		if row.Style == Repeat {
			t.Fatalf("a LOST failure marked %q as a repeat; only DUPLICATE failures are about things happening twice", row.Label)
		}
	}
}

// svgTexts returns the text content of every <text> element of class cls in an SVG document.
func svgTexts(t testing.TB, doc []byte, cls string) []string {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(doc))
	var out []string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("the SVG is not well-formed XML: %v", err)
		}
		start, ok := tok.(xml.StartElement)
		if !ok || start.Name.Local != "text" {
			continue
		}
		for _, a := range start.Attr {
			if a.Name.Local == "class" && strings.Fields(a.Value)[0] == cls {
				var s string
				if err := dec.DecodeElement(&s, &start); err != nil {
					t.Fatal(err)
				}
				out = append(out, s)
			}
		}
	}
}

func TestSVGOfLab5NamesLanesCrashRedeliveryAndSecondCharge(t *testing.T) {
	var buf bytes.Buffer
	if err := SVG(&buf, Build(load(t, "lab05-redelivery"))); err != nil {
		t.Fatal(err)
	}
	doc := buf.Bytes()
	if got := strings.Join(svgTexts(t, doc, "lanename"), " "); got != "sales broker billing billing#2" {
		t.Errorf("the SVG's lanes are %q", got)
	}
	checks := map[string]string{"marktext": `CRASHED at "after-commit"`, "lbl": "REDELIVERED m-1", "note": "charged o-1 4200 cents for m-1  (×2)", "fataltext": "DUPLICATE:"}
	for cls, want := range checks {
		found := false
		for _, s := range svgTexts(t, doc, cls) {
			found = found || strings.Contains(s, want)
		}
		if !found {
			t.Errorf("the SVG has no %s text containing %q", cls, want)
		}
	}
	for _, forbidden := range []string{"<script", "href=\"http", "@import", "<image"} {
		if bytes.Contains(doc, []byte(forbidden)) {
			t.Errorf("the SVG contains %q: it must be self-contained", forbidden)
		}
	}
}

func TestSVGEscapesText(t *testing.T) {
	r := load(t, "lab05-redelivery")
	r.Headline = `<script>alert("x")</script> & more`
	r.Events = append(r.Events[:len(r.Events)-1], Event{AtMS: 60, Actor: "billing#2", Kind: Log, Text: "a <b> & c"})
	var buf bytes.Buffer
	if err := SVG(&buf, Build(r)); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(buf.Bytes(), []byte("<script>")) || bytes.Contains(buf.Bytes(), []byte("<b>")) {
		t.Fatal("text from the events reached the SVG unescaped")
	}
	svgTexts(t, buf.Bytes(), "note") // well-formed
}

func TestTerminalLinesFitTheWidth(t *testing.T) {
	for _, name := range fixtures {
		for _, w := range []int{40, 60, 80, 100, 140} {
			f := Terminal(Build(load(t, name)), Options{Width: w, Color: true})
			for i, l := range StripColor(f.Lines()) {
				if n := cells(l); n > w {
					t.Errorf("%s at width %d: line %d is %d cells wide: %q", name, w, i, n, l)
				}
			}
		}
	}
}

func TestTerminalWithoutColorHasNoEscapes(t *testing.T) {
	f := Terminal(Build(load(t, "lab05-redelivery")), Options{Width: 100})
	for _, l := range f.Lines() {
		if strings.Contains(l, "\x1b[") {
			t.Fatalf("a line drawn without colour has an escape sequence: %q", l)
		}
	}
}

func TestColorAllowed(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	cases := []struct {
		name string
		env  func(string) string
		tty  bool
		want bool
	}{
		{"terminal", env("TERM", "xterm"), true, true},
		{"NO_COLOR", env("NO_COLOR", "1"), true, false},
		{"dumb", env("TERM", "dumb"), true, false},
		{"pipe", env(), false, false},
	}
	for _, c := range cases {
		if got := ColorAllowed(c.env, c.tty); got != c.want {
			t.Errorf("%s: ColorAllowed = %v, want %v", c.name, got, c.want)
		}
	}
}

// kitWithRun makes a kit root whose lab 5 last run exported the given fixtures, the first finishing first.
func kitWithRun(t testing.TB, names ...string) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(RunDir(root, 5), "events")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Minute)
	for i, name := range names {
		data, err := os.ReadFile(filepath.Join("testdata", name+".json"))
		if err != nil {
			t.Fatal(err)
		}
		r := load(t, name)
		path := EventsFile(RunDir(root, 5), r.Test)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		mod := at.Add(time.Duration(i) * time.Second)
		if err := os.Chtimes(path, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestCommandDrawsTheFirstFailingTest(t *testing.T) {
	root := kitWithRun(t, "lab04-passed", "lab05-redelivery", "synthetic-every-kind")
	var out, errb bytes.Buffer
	if code := command(context.Background(), root, []string{"5", "--width", "100"}, &out, &errb, os.Getenv); code != 0 {
		t.Fatalf("checker diagram 5 exited %d: %s", code, errb.String())
	}
	want := strings.Join(Terminal(Build(load(t, "lab05-redelivery")), Options{Width: 100}).Lines(), "\n") + "\n"
	if out.String() != want {
		t.Fatalf("checker diagram 5 did not draw the first failing test (lab 5's redelivery):\n%s", out.String())
	}
}

func TestCommandWritesSVG(t *testing.T) {
	root := kitWithRun(t, "lab05-redelivery", "synthetic-every-kind")
	file := filepath.Join(t.TempDir(), "x.svg")
	var out, errb bytes.Buffer
	code := command(context.Background(), root, []string{"5", "TestEveryKindOfEvent", "--svg", file}, &out, &errb, os.Getenv)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if got := out.String(); got != "diagram of TestEveryKindOfEvent written to "+file+"\n" {
		t.Errorf("stdout: %q", got)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	_ = SVG(&want, Build(load(t, "synthetic-every-kind")))
	if !bytes.Equal(data, want.Bytes()) {
		t.Error("the SVG written is not the diagram of the named test")
	}
}

func TestCommandWithoutARunSaysWhatToDo(t *testing.T) {
	var out, errb bytes.Buffer
	code := command(context.Background(), t.TempDir(), []string{"5"}, &out, &errb, os.Getenv)
	if code != exitUsage || !strings.Contains(errb.String(), "run the lab first (`bin/checker run 5`)") {
		t.Fatalf("exit %d, stderr %q; want 2 and the command to run first", code, errb.String())
	}
}

func TestCommandWhenEverythingPassed(t *testing.T) {
	root := kitWithRun(t, "lab04-passed")
	var out, errb bytes.Buffer
	code := command(context.Background(), root, []string{"5"}, &out, &errb, os.Getenv)
	if code != exitUsage || !strings.Contains(errb.String(), "every test of lab 5's last run passed") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	out.Reset()
	if code := command(context.Background(), root, []string{"5", "--list"}, &out, &errb, os.Getenv); code != 0 || out.String() != "TestConfirmedOrderIsAccepted  passed\n" {
		t.Fatalf("--list: exit %d, %q", code, out.String())
	}
}

func TestEventsFileOfASubTest(t *testing.T) {
	if got := EventsFile("/r", "TestA/case_1"); got != filepath.Join("/r", "events", "TestA__case_1.json") {
		t.Fatalf("EventsFile = %s", got)
	}
}
