// Package kittest builds small throwaway kits for the checker's tests: a go.mod of module msglabs and labs (each
// with its lab.yaml) whose tests need no RabbitMQ.
package kittest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Meta returns the lab.yaml of sample lab 1 or 2: one step with one failing test and a guard. The kit is unsealed.
func Meta(n int) string {
	if n == 1 {
		return `# The first sample lab.
title: First lab
summary: An order goes missing.
edit: [work.go]
lecture: 10
steps:
  - title: the order arrives
    concept: Fixed must say true
    solo: 10
    mob: 5
    failing:
      - test: TestLost
        marker: LOST
    guards: [TestFine]
    hints:
      - "Look at Fixed."
      - "Return true."
`
	}
	return `title: "Second: the sequel"
edit: [work.go]
steps:
  - title: once only
    solo: 5
    mob: 5
    failing:
      - test: TestTwice
        marker: DUPLICATE
    guards: [TestFine]
    hints: ["Count once."]
`
}

// Files returns the sample kit's files, path → content: two labs, 01-first and 02-second.
func Files() map[string]string {
	files := map[string]string{
		"go.mod": "module msglabs\n\ngo 1.26\n",
	}
	for i, l := range []struct{ slug, pkg, test, marker string }{
		{"01-first", "first", "TestLost", "LOST"},
		{"02-second", "second", "TestTwice", "DUPLICATE"},
	} {
		files["labs/"+l.slug+"/lab.yaml"] = Meta(i + 1)
		files["labs/"+l.slug+"/work.go"] = Starter(l.pkg)
		files["labs/"+l.slug+"/"+l.pkg+"_test.go"] = fmt.Sprintf(`// Do not edit: this test shows the failure.
package %s

import "testing"

func TestFine(t *testing.T) {}

func %s(t *testing.T) {
	if !Fixed() {
		t.Fatal("%s: order o-17 went wrong (1 placed, 0 billed)\n\ntimeline:\n  +0.001s  orders  publish o-17")
	}
}
`, l.pkg, l.test, l.marker)
		files["solutions/"+l.slug+"/work.go"] = "//go:build solution\n\n" + Solved(l.pkg)
	}
	return files
}

// Starter is the shipped work.go of a sample lab.
func Starter(pkg string) string {
	return "package " + pkg + "\n\n// Fixed reports whether the lab is solved.\nfunc Fixed() bool {\n\t// TODO(lab): fix it.\n\treturn false\n}\n"
}

// Solved is a solved work.go of a sample lab (without the build line).
func Solved(pkg string) string {
	return "package " + pkg + "\n\n// Fixed reports whether the lab is solved.\nfunc Fixed() bool {\n\treturn true\n}\n"
}

// New writes the sample kit into a temporary directory and returns its root.
func New(t testing.TB) string {
	t.Helper()
	root := t.TempDir()
	Write(t, root, Files())
	return root
}

// Write writes files (slash paths relative to root) under root.
func Write(t testing.TB, root string, files map[string]string) {
	t.Helper()
	for rel, content := range files {
		path := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Read returns the content of a file of the kit.
func Read(t testing.TB, root, rel string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// Git runs git in root, skipping the test when git is not installed.
func Git(t testing.TB, root string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	cmd := exec.Command("git", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
		"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Commit makes root a git repository holding every file.
func Commit(t testing.TB, root string) {
	t.Helper()
	Git(t, root, "init", "-q")
	Git(t, root, "add", "-A")
	Git(t, root, "commit", "-q", "-m", "kit")
}

// SteppedMeta is the lab.yaml of sample lab 3, 03-steps: two steps (the first with a guard), two named mistakes (one
// caught by a guard, one by the chaos stage) and a chaos stage.
const SteppedMeta = `title: Third, in steps
summary: Orders go missing, then stall, then break under faults.
edit: [work.go]
steps:
  - title: the first concept
    concept: First must say true
    solo: 5
    mob: 5
    failing:
      - test: TestFirst
        marker: LOST
    guards: [TestGuard]
    hints:
      - "One: think about it."
      - "One: return true."
  - title: the second concept
    concept: Second must say true
    solo: 5
    mob: 5
    failing:
      - test: TestSecond
        marker: STALLED
    hints:
      - "Two: think about it."
      - "Two: return true."
      - "Two: really, return true."
mistakes:
  - name: bill-twice
    step: 1
    says: billing on every delivery charges a redelivered order twice
    caught: {test: TestGuard, marker: DUPLICATE}
  - name: fragile
    step: 2
    says: it works until a process crashes
    caught: {test: TestChaos, marker: LOST}
chaos: {runs: 3}
`

// SteppedWork is a work.go of sample lab 3 with each function returning what is given.
func SteppedWork(first, second, careless, sturdy bool) string {
	return fmt.Sprintf(`package steps

// First is step 1.
func First() bool { return %t } // TODO(lab): step 1

// Second is step 2.
func Second() bool { return %t } // TODO(lab): step 2

// Careless is the mistake the guard catches.
func Careless() bool { return %t }

// Sturdy is what the chaos stage wants.
func Sturdy() bool { return %t }
`, first, second, careless, sturdy)
}

// SteppedFiles returns the files of sample lab 3 (03-steps).
func SteppedFiles() map[string]string {
	return map[string]string{
		"labs/03-steps/lab.yaml": SteppedMeta,
		"labs/03-steps/work.go":  SteppedWork(false, false, false, false),
		"labs/03-steps/steps_test.go": `// Do not edit: these tests show the failures.
package steps

import "testing"

func TestFirst(t *testing.T) {
	if !First() {
		t.Fatal("LOST: order o-1 was never billed (1 placed, 0 billed)\n\ntimeline:\n  +0.001s  sales  publish o-1")
	}
}

func TestGuard(t *testing.T) {
	if Careless() {
		t.Fatal("DUPLICATE: order o-2 was billed twice (1 placed, 2 billed)")
	}
}

func TestSecond(t *testing.T) {
	if !Second() {
		t.Fatal("STALLED: order o-3 waited forever")
	}
}
`,
		"labs/03-steps/chaos_test.go": `package steps

import (
	"os"
	"testing"
)

func TestChaos(t *testing.T) {
	if os.Getenv("MSGLABS_CHAOS") == "" {
		t.Skip("the chaos stage runs from the checker")
	}
	seed := os.Getenv("MSGLABS_CHAOS_SEED")
	if seed == "" {
		seed = "7" // the lab's fixed default
	}
	t.Logf("chaos: %s schedules from seed %s", os.Getenv("MSGLABS_CHAOS_RUNS"), seed)
	if !Sturdy() {
		t.Fatalf("LOST: under schedule %s, order o-9 was never billed\n\nreplay: bin/checker chaos 3 --seed %s", seed, seed)
	}
}
`,
		"labs/03-steps/FOLLOWUP.md":  "# After lab 3\n\nWhat just happened: the steps passed.\n",
		"solutions/03-steps/work.go": "//go:build solution\n\n" + SteppedWork(true, true, false, true),
	}
}

// NewStepped writes the sample kit with lab 3 (SteppedFiles) into a temporary directory and returns its root.
func NewStepped(t testing.TB) string {
	t.Helper()
	root := New(t)
	Write(t, root, SteppedFiles())
	return root
}

// WrittenMeta is the lab.yaml of sample lab 4, 04-written: a first step the attendee fixes, and a second in which
// they write a test of their own (mine_test.go) that must catch the planted bug off-by-ten in the kit's service.go.
const WrittenMeta = `title: Fourth, a test of your own
summary: Orders go missing, and the discount service needs a test.
edit: [work.go, mine_test.go]
steps:
  - title: the fix
    concept: First must say true
    solo: 5
    mob: 5
    edit: [work.go]
    failing:
      - test: TestFirst
        marker: LOST
    hints:
      - "One: think about it."
      - "One: make Fixed() return true."
  - title: your own test
    concept: a test that catches the discount bug
    solo: 5
    mob: 5
    edit: [mine_test.go]
    written:
      test: TestMine
      marker: LOST
      planted: off-by-ten
      bug: the discount is a hundredth instead of a tenth
    hints:
      - "Mine: what should a discount of 10.00 be?"
      - "Mine: if Discount(1000) != 100 { t.Fatal(\"LOST: …\") }."
`

// WrittenStarter is the shipped mine_test.go of sample lab 4: a test that checks nothing yet.
const WrittenStarter = `package written

import "testing"

// TestMine is yours.
func TestMine(t *testing.T) {
	// TODO(lab): write the test that catches the discount bug.
}
`

// WrittenTest returns a mine_test.go of sample lab 4 whose TestMine says, when Discount(1000) is not want, the
// failure fail (a marker and a sentence); want 100 is the kit's service, 10 the planted bug.
func WrittenTest(want int, fail string) string {
	return fmt.Sprintf(`package written

import "testing"

func TestMine(t *testing.T) {
	if got := Discount(1000); got != %d {
		t.Fatalf("%s (Discount(1000) = %%d)", got)
	}
}
`, want, fail)
}

// WrittenFiles returns the files of sample lab 4 (04-written).
func WrittenFiles() map[string]string {
	return map[string]string{
		"labs/04-written/lab.yaml":     WrittenMeta,
		"labs/04-written/work.go":      Starter("written"),
		"labs/04-written/mine_test.go": WrittenStarter,
		"labs/04-written/service.go":   "package written\n\n// Discount is a tenth of cents.\nfunc Discount(cents int) int { return cents / 10 }\n",
		"labs/04-written/testdata/planted/off-by-ten/service.go": "// Planted bug off-by-ten: the discount is a hundredth instead of a tenth\n\n" +
			"package written\n\n// Discount is a tenth of cents.\nfunc Discount(cents int) int { return cents / 100 }\n",
		"labs/04-written/written_test.go": `// Do not edit: this test shows the failure.
package written

import "testing"

func TestFirst(t *testing.T) {
	if !Fixed() {
		t.Fatal("LOST: order o-4 went missing (1 placed, 0 billed)")
	}
}
`,
		"solutions/04-written/work.go": "//go:build solution\n\n// Why this fix: Fixed must say so; one good answer, not the only one.\n\n" +
			Solved("written"),
		"solutions/04-written/mine_test.go": "//go:build solution\n\n// Why this test: it checks the discount of one order; one good answer, not the only one.\n\n" + WrittenTest(100, "LOST: the discount of a 10.00 order is wrong"),
	}
}

// NewWritten writes the sample kit with lab 4 (WrittenFiles) into a temporary directory and returns its root.
func NewWritten(t testing.TB) string {
	t.Helper()
	root := New(t)
	Write(t, root, WrittenFiles())
	return root
}
