package verify

import (
	"context"
	"strings"
	"testing"

	"msglabs/checker/kittest"
)

// writtenKit is the verify fixture kit with kittest's lab 4 (04-written) added, edits applied, sealed and committed.
func writtenKit(t *testing.T, edits map[string]string) (*Result, string) {
	t.Helper()
	files := kittest.WrittenFiles()
	for rel, content := range edits {
		files[rel] = content
	}
	c := fixtureKit(t, files)
	l, err := c.Lab(4)
	if err != nil {
		t.Fatal(err)
	}
	r := Lab(context.Background(), c, l, Options{})
	return &r, c.Root
}

// verify proves the reference test of a written step fails with its marker against the planted bug (and, as a
// visible test of the solution, passes on the kit's code), and that the test as shipped does not catch the bug.
func TestLabJudgesTheReferenceTestAgainstThePlantedBug(t *testing.T) {
	r, _ := writtenKit(t, nil)
	if !r.Verified || r.Reason != "" || r.Error != "" {
		t.Fatalf("result = %+v", r)
	}
	if len(r.Planted) != 1 || !r.Planted[0].OK || r.Planted[0].Step != 2 || r.Planted[0].Name != "off-by-ten" ||
		r.Planted[0].Caught.Test != "TestMine" || r.Planted[0].Caught.Marker != "LOST" {
		t.Fatalf("planted = %+v", r.Planted)
	}
	if !r.Solution.Passed {
		t.Fatalf("solution = %+v (it runs the reference test on the kit's code)", r.Solution)
	}
	if line := r.Line(); !strings.Contains(line, "step 2's reference test catches planted bug off-by-ten (LOST)") {
		t.Fatalf("line = %q", line)
	}
}

func TestLabReportsAWrittenStepThatProvesNothing(t *testing.T) {
	r, _ := writtenKit(t, map[string]string{
		// A reference test that expects the planted bug's answer fails on the kit's code and passes against the bug.
		"solutions/04-written/mine_test.go": "//go:build solution\n\n// Why this test: wrong; one good answer, not the only one.\n\n" +
			kittest.WrittenTest(10, "LOST: the discount is wrong"),
		// A shipped test that already catches the bug leaves the attendee nothing to write.
		"labs/04-written/mine_test.go": kittest.WrittenTest(100, "LOST: the discount is wrong") + "\n// TODO(lab): nothing left to do.\n",
	})
	if r.Verified || r.Solution.Passed || len(r.Planted) != 1 || r.Planted[0].OK {
		t.Fatalf("result = %+v", r)
	}
	for _, want := range []string{
		"solution fails TestMine (LOST: the discount is wrong",
		"planted bug off-by-ten is not caught by the reference test: TestMine passed, expected it to fail with LOST",
		"planted bug off-by-ten is caught before the attendee writes the test: TestMine (the attendee's shipped test) fails (LOST: the discount is wrong",
	} {
		if !strings.Contains(r.Reason, want) {
			t.Errorf("reason lacks %q:\n%s", want, r.Reason)
		}
	}
}
