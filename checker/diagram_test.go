package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"msglabs/checker/kittest"
)

// exportingTest is lab 1's test of the sample kit, exporting its events where the checker says (MSGLABS_RUN_DIR),
// as the harness does for every lab test (DESIGN.md D5): a redelivery after a crash, and the failure.
const exportingTest = `// Do not edit: this test shows the failure.
package first

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFine(t *testing.T) {}

const events = ` + "`" + `{"test":"TestLost","lab":"01-first","failed":true,"marker":"DUPLICATE","headline":"order o-1 was charged 2 times",
 "actors":["test","sales","billing","billing#2"],
 "events":[
  {"at_ms":1,"actor":"sales","kind":"publish","message":"m-1","peer":"sales","text":"published m-1"},
  {"at_ms":2,"actor":"billing","kind":"deliver","message":"m-1","peer":"billing","text":"received m-1"},
  {"at_ms":3,"actor":"billing","kind":"crash","text":"CRASHED at \"after-commit\""},
  {"at_ms":4,"actor":"billing#2","kind":"deliver","message":"m-1","peer":"billing","redelivered":true,"text":"received m-1 (REDELIVERED)"},
  {"at_ms":5,"actor":"billing#2","kind":"log","message":"m-1","text":"charged o-1 again"},
  {"at_ms":6,"actor":"test","kind":"failure","text":"DUPLICATE: order o-1 was charged 2 times"}]}` + "`" + `

func TestLost(t *testing.T) {
	if dir := os.Getenv("MSGLABS_RUN_DIR"); dir != "" && !Fixed() {
		if err := os.MkdirAll(filepath.Join(dir, "events"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "events", "TestLost.json"), []byte(events), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if !Fixed() {
		t.Fatal("DUPLICATE: order o-1 was charged 2 times")
	}
}
`

// TestRunSVGAndDiagramDrawTheFailingTest: `run N --svg FILE` writes the first failing test's diagram, and
// `diagram N` draws the last run on the terminal; a run that passes writes none and says why.
func TestRunSVGAndDiagramDrawTheFailingTest(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a lab's tests")
	}
	root := kittest.New(t)
	kittest.Write(t, root, map[string]string{"labs/01-first/first_test.go": exportingTest})
	sealKit(t, root)
	ta := newTestApp(t, root)
	file := filepath.Join(t.TempDir(), "lab1.svg")
	ta.expect(t, exitFailing, "run", "1", "--svg", file)
	if got := ta.errOut.String(); !strings.Contains(got, "the diagram of TestLost is in "+file) {
		t.Fatalf("run --svg did not say where the diagram is; stderr:\n%s", got)
	}
	svg, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("run --svg wrote no diagram: %v", err)
	}
	for _, want := range []string{"<svg", ">billing#2<", "REDELIVERED", "CRASHED at", "charged o-1 again"} {
		if !strings.Contains(string(svg), want) {
			t.Fatalf("the SVG lacks %q:\n%s", want, svg)
		}
	}

	out := ta.expect(t, exitOK, "diagram", "1", "--width", "100")
	wantAll(t, out, "01-first · TestLost", "│ billing#2 │", "REDELIVERED m-1", "✗ DUPLICATE: order o-1 was charged 2 times")
	wantAll(t, ta.expect(t, exitOK, "diagram", "1", "--list"), "TestLost  failed DUPLICATE")
	if help := ta.expect(t, exitOK, "help"); !strings.Contains(help, "diagram N [TEST] [--svg FILE]") || !strings.Contains(help, "run N [--json] [--svg FILE]") {
		t.Fatalf("the usage does not list diagram and run --svg:\n%s", help)
	}

	kittest.Write(t, root, map[string]string{"labs/01-first/work.go": kittest.Solved("first")})
	passed := filepath.Join(t.TempDir(), "none.svg")
	ta.expect(t, exitOK, "run", "1", "--svg", passed)
	wantAll(t, ta.errOut.String(), "no test failed, so there is no diagram to write")
	if _, err := os.Stat(passed); !os.IsNotExist(err) {
		t.Fatalf("a passing run wrote a diagram (stat: %v)", err)
	}
}
