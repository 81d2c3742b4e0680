package readme

import (
	"strings"
	"testing"

	"msglabs/checker/kittest"
	"msglabs/checker/lab"
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

func TestSyncAndCheck(t *testing.T) {
	root := kittest.New(t)
	kittest.Write(t, root, map[string]string{File: "# kit\n\n<!-- labs:begin -->\n<!-- labs:end -->\n"})
	c, err := lab.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	if probs := Check(c); len(probs) != 1 || !strings.Contains(probs[0], "differs from the lab metadata; fix: go run ./checker seal") {
		t.Fatalf("stale table: %q", probs)
	}
	changed, err := Sync(c)
	if err != nil || strings.Join(changed, ",") != File {
		t.Fatalf("Sync = %v, %v", changed, err)
	}
	if got := kittest.Read(t, root, File); !strings.Contains(got, "| 2 | [Second: the sequel](labs/02-second/README.md) | **DUPLICATE** |  |") {
		t.Fatalf("README:\n%s", got)
	}
	if probs := Check(c); len(probs) != 0 {
		t.Fatalf("after Sync: %q", probs)
	}
	if changed, err := Sync(c); err != nil || len(changed) != 0 {
		t.Fatalf("second Sync = %v, %v", changed, err)
	}
}
