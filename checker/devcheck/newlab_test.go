package devcheck

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"msglabs/checker/kittest"
	"msglabs/checker/lab"
	"msglabs/checker/readme"
	"msglabs/checker/seal"
	"msglabs/checker/verify"
)

// The throw-away lab 16 that TestAddingALabTakesFiveSteps adds: what DEVELOPERS.md's "Adding a lab" asks for.
var newLab = map[string]string{
	// Step 1: the lab folder.
	"labs/16-throwaway/stock.go": `package throwaway

// Stock holds how many of each SKU are left. It is not safe for concurrent use.
type Stock struct{ Left map[string]int }

// Reserve takes n items of sku for a customer and reports whether there were enough.
func (s *Stock) Reserve(sku string, n int) bool {
	// TODO(lab): a reservation larger than what is left promises items the shop does not have: refuse it.
	s.Left[sku] -= n
	return true
}
`,
	"labs/16-throwaway/stock_test.go": `// Do not edit: this test shows the failure.
package throwaway

import (
	"testing"

	"msglabs/shared/story"
)

func TestNoOverselling(t *testing.T) {
	s := &Stock{Left: map[string]int{"book": 1}}
	first, second := s.Reserve("book", 1), s.Reserve("book", 1)
	if first && second {
		t.Fatalf("%s: book was promised to 2 customers (1 in stock, 2 reserved)", story.Duplicate)
	}
}

func TestReservationWithinStock(t *testing.T) {
	s := &Stock{Left: map[string]int{"book": 2}}
	if !s.Reserve("book", 2) {
		t.Fatalf("%s: a reservation of 2 books was refused with 2 in stock", story.Lost)
	}
}
`,
	"labs/16-throwaway/lab.yaml": `title: Throw-away stock
summary: Two customers are promised the last book.
edit: [stock.go]
lecture: 5
steps:
  - title: the last book
    concept: a reservation checks what is left before it takes it
    solo: 5
    mob: 5
    failing:
      - test: TestNoOverselling
        marker: DUPLICATE
    guards: [TestReservationWithinStock]
    hints:
      - "What should Reserve say when fewer than n are left? See https://go.dev/tour/flowcontrol/6"
      - "Compare s.Left[sku] with n before you subtract: if s.Left[sku] < n { return false }."
mistakes:
  - name: refuse-all
    step: 1
    says: Reserve refuses every reservation, so nothing is ever oversold
    caught: {test: TestReservationWithinStock, marker: LOST}
`,
	"labs/16-throwaway/testdata/mistakes/refuse-all/stock.go": `// Mistake refuse-all: Reserve refuses every reservation, so nothing is ever oversold
// An attendee who only reads the failing test might make it pass this way.
package throwaway

// Stock holds how many of each SKU are left. It is not safe for concurrent use.
type Stock struct{ Left map[string]int }

// Reserve refuses.
func (s *Stock) Reserve(sku string, n int) bool { return false }
`,
	"labs/16-throwaway/README.md": "# Lab 16\n\n## The failure\n\n<!-- output: TestNoOverselling -->\n```\nDUPLICATE: (dev readme fills this in)\n```\n",
	// Step 2: the solution.
	"solutions/16-throwaway/stock.go": `//go:build solution

// Why this fix: Reserve now looks at what is left before it takes anything. This is one good answer, not the only
// one: a database would do it with UPDATE … WHERE left >= n.

package throwaway

// Stock holds how many of each SKU are left. It is not safe for concurrent use.
type Stock struct{ Left map[string]int }

// Reserve takes n items of sku for a customer and reports whether there were enough.
func (s *Stock) Reserve(sku string, n int) bool {
	if s.Left[sku] < n {
		return false
	}
	s.Left[sku] -= n
	return true
}
`,
	// Step 3: the slides.
	"slides/16-throwaway.md": "# Throw-away stock\n\nThe last book\n\nNote: tell the story of the last book.\n",
}

// TestAddingALabTakesFiveSteps adds a lab 16 to a copy of the kit the way DEVELOPERS.md says, and requires dev check
// (every rule of lab 16, the kit-wide ones too) and verify to accept it, with nothing else touched by hand.
func TestAddingALabTakesFiveSteps(t *testing.T) {
	if testing.Short() {
		t.Skip("copies the kit and runs go")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go is not on PATH")
	}
	src, err := lab.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	for _, p := range []string{"go.mod", "go.sum", "README.md", "DEVELOPERS.md", "labs", "solutions", "shared", "slides"} {
		copyPath(t, filepath.Join(src, p), filepath.Join(root, p))
	}
	kittest.Write(t, root, newLab) // steps 1 to 3
	ctx := context.Background()

	// Step 4: go run ./checker seal && go run ./checker dev readme.
	c := load(t, root)
	if _, err := seal.Write(c); err != nil {
		t.Fatal(err)
	}
	if _, err := readme.Sync(c); err != nil {
		t.Fatal(err)
	}
	l16, err := c.Lab(16)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := WriteHeadlines(ctx, c, []lab.Lab{l16}, nil); err != nil {
		t.Fatal(err)
	}

	// Everything derivable was derived.
	for file, want := range map[string]string{
		"README.md":                         "| 16 | [Throw-away stock](labs/16-throwaway/README.md) | **DUPLICATE** | Two customers are promised the last book. |",
		"labs/15-prove-it/README.md":        "Next: [lab 16 · Throw-away stock](../16-throwaway/README.md).",
		"labs/16-throwaway/README.md":       "DUPLICATE: book was promised to 2 customers (1 in stock, 2 reserved)",
		"labs/labs.sum":                     "test labs/16-throwaway/stock_test.go ",
		"labs/16-throwaway/README.md#title": "# Lab 16 · Throw-away stock\n",
	} {
		file, _, _ = strings.Cut(file, "#")
		if !strings.Contains(kittest.Read(t, root, file), want) {
			t.Fatalf("%s does not say %q:\n%s", file, want, kittest.Read(t, root, file))
		}
	}
	if strings.Contains(kittest.Read(t, root, "README.md"), "fifteen labs") {
		t.Fatal("README.md still counts fifteen labs")
	}

	// Step 5: go run ./checker dev check && go run ./checker verify 16.
	c = load(t, root)
	// The throwaway lab has one mistake fixture; a real one needs DefaultLimits.MinMistakes.
	limits := DefaultLimits
	limits.MinMistakes = 1
	rep := Check(ctx, c, Options{Labs: []int{16}, Limits: limits})
	for _, p := range rep.Problems {
		if !p.Pending || strings.HasPrefix(p.File, "labs/16-") {
			t.Errorf("dev check: %s: %s", p.Rule, p)
		}
	}
	if l16, err = c.Lab(16); err != nil {
		t.Fatal(err)
	}
	if r := verify.Lab(ctx, c, l16, verify.Options{}); !r.Verified {
		t.Fatalf("verify 16: %+v", r)
	}
}

// copyPath copies a file or a folder tree.
func copyPath(t *testing.T, src, dst string) {
	t.Helper()
	st, err := os.Stat(src)
	if os.IsNotExist(err) {
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if st.IsDir() {
		copyTree(t, src, dst)
		return
	}
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
