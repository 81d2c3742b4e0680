package agenda

import (
	"flag"
	"path/filepath"
	"testing"
)

var writeGuide = flag.Bool("write-guide", false, "rewrite INSTRUCTORS.md's agenda sections before checking the kit")

// TestTheKitsAgendaAgrees checks the kit itself: slides/agenda.yaml, INSTRUCTORS.md and every deck against the labs'
// lab.yaml. It is the check `make test` runs through catalog's dev check, here so that a change to a deck fails
// this package's tests too.
func TestTheKitsAgendaAgrees(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	labs, err := LoadLabs(root)
	if err != nil {
		t.Fatal(err)
	}
	if *writeGuide {
		if _, err := Write(root, labs); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range Check(root, labs) {
		t.Errorf("%s", p)
	}
}
