package lab

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"msglabs/checker/kittest"
)

func TestLoadDerivesNumberSlugPackageAndHeadline(t *testing.T) {
	root := kittest.New(t)
	c, err := Load(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Labs) != 2 || len(c.Problems()) != 0 {
		t.Fatalf("labs = %d, problems = %q; want 2 labs, no problems", len(c.Labs), c.Problems())
	}
	l, err := c.Lab(2)
	if err != nil {
		t.Fatal(err)
	}
	if l.Number != 2 || l.Slug != "02-second" || l.Package != "second" || l.Failure != "DUPLICATE" || l.Title != "Second: the sequel" {
		t.Fatalf("lab 2 = %+v", l)
	}
	if got := strings.Join(l.Steps[0].Edit, ","); got != "work.go" {
		t.Fatalf("step edit defaults to the lab's edit list; got %q", got)
	}
	if got := strings.Join(l.Visible(), ","); got != "TestTwice,TestFine" {
		t.Fatalf("Visible = %q", got)
	}
	if l.StepOf("TestFine") != 1 || l.StepOf("TestNope") != 0 {
		t.Fatalf("StepOf: %d, %d", l.StepOf("TestFine"), l.StepOf("TestNope"))
	}
	if m, ok := l.FailingMarker("TestTwice"); !ok || m != "DUPLICATE" {
		t.Fatalf("FailingMarker = %q, %v", m, ok)
	}
	if _, ok := l.FailingMarker("TestFine"); ok {
		t.Fatal("a guard is not a failing test")
	}
	if _, err := c.Lab(42); err == nil || !strings.Contains(err.Error(), "there is no lab 42") {
		t.Fatalf("Lab(42): %v", err)
	}
}

func TestLoadLeavesOutBrokenLabsWithTheirProblems(t *testing.T) {
	meta := kittest.Meta(1)
	cases := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"unknown marker", map[string]string{"labs/01-first/lab.yaml": strings.Replace(meta, "marker: LOST", "marker: GONE", 1)},
			`labs/01-first/lab.yaml: step 1: TestLost has unknown marker "GONE"`},
		{"INFRA is not a lab marker", map[string]string{"labs/01-first/lab.yaml": strings.Replace(meta, "marker: LOST", "marker: INFRA", 1)},
			`unknown marker "INFRA"`},
		{"unknown field", map[string]string{"labs/01-first/lab.yaml": strings.Replace(meta, "hints:", "hint:", 1)},
			"field hint not found"},
		{"no steps", map[string]string{"labs/01-first/lab.yaml": meta[:strings.Index(meta, "steps:")]},
			"steps lists no step"},
		{"edit file missing", map[string]string{"labs/01-first/lab.yaml": strings.Replace(meta, "edit: [work.go]", "edit: [work.go, more.go]", 1)},
			"labs/01-first/more.go is missing (fix: git checkout -- labs/01-first/more.go)"},
		{"test listed twice", map[string]string{"labs/01-first/lab.yaml": strings.Replace(meta, "guards: [TestFine]", "guards: [TestFine, TestLost]", 1)},
			"step 1 guards: TestLost is already listed in step 1 failing"},
		{"TestChaos in a step", map[string]string{"labs/01-first/lab.yaml": strings.Replace(meta, "guards: [TestFine]", "guards: [TestChaos]", 1)},
			"TestChaos belongs to no step"},
		{"step edits a file the lab does not", map[string]string{"labs/01-first/lab.yaml": strings.Replace(meta, "    solo: 10", "    edit: [other.go]\n    solo: 10", 1)},
			"step 1: edit file other.go is not in the lab's edit list"},
		{"mistake of a step that does not exist", map[string]string{"labs/01-first/lab.yaml": meta +
			"mistakes:\n  - name: always-true\n    step: 2\n    says: returns true\n    caught: {test: TestLost, marker: LOST}\n"},
			`mistake "always-true": step 2 does not exist (the lab has 1)`},
		{"mistake caught by a test no step lists", map[string]string{"labs/01-first/lab.yaml": meta +
			"mistakes:\n  - name: always-true\n    step: 1\n    says: returns true\n    caught: {test: TestOther, marker: LOST}\n"},
			`mistake "always-true": caught by "TestOther", which no step lists`},
		{"mistake caught by chaos without chaos", map[string]string{"labs/01-first/lab.yaml": meta +
			"mistakes:\n  - name: always-true\n    step: 1\n    says: returns true\n    caught: {test: TestChaos, marker: LOST}\n"},
			"caught by TestChaos, but the lab declares no chaos"},
		{"no lab.yaml", map[string]string{"labs/01-first/lab.yaml": ""}, "labs/01-first/lab.yaml is missing"},
		{"no test file", map[string]string{"labs/01-first/first_test.go": ""}, "labs/01-first has no test"},
		{"two packages", map[string]string{"labs/01-first/other.go": "package second\n"}, "says package"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := kittest.New(t)
			for rel, content := range tc.files {
				if content == "" {
					if err := os.Remove(filepath.Join(root, filepath.FromSlash(rel))); err != nil {
						t.Fatal(err)
					}
					delete(tc.files, rel)
				}
			}
			kittest.Write(t, root, tc.files)
			c, err := Load(root)
			if err != nil {
				t.Fatal(err)
			}
			probs := strings.Join(c.Problems(), "\n")
			if len(c.Labs) != 1 || c.Labs[0].Number != 2 || !strings.Contains(probs, tc.want) {
				t.Fatalf("labs = %d, problems:\n%s\nwant lab 1 left out for %q", len(c.Labs), probs, tc.want)
			}
			if _, err := c.Lab(1); err == nil || !strings.Contains(err.Error(), "lab 1 is not usable") {
				t.Fatalf("Lab(1): %v", err)
			}
		})
	}
}

func TestLoadReportsFoldersThatAreNotLabs(t *testing.T) {
	root := kittest.New(t)
	kittest.Write(t, root, map[string]string{
		"labs/notes/x.txt":          "x",
		"labs/01-again/lab.yaml":    kittest.Meta(1),
		"labs/01-again/work.go":     kittest.Starter("again"),
		"labs/01-again/a_test.go":   "package again\n",
		"labs/.hidden/whatever.txt": "ignored",
	})
	c, err := Load(root)
	if err != nil {
		t.Fatal(err)
	}
	probs := strings.Join(c.Problems(), "\n")
	if len(c.Labs) != 1 || c.Labs[0].Number != 2 {
		t.Fatalf("labs = %+v; want only lab 2 (both folders numbered 01 are out)", c.Labs)
	}
	for _, want := range []string{"labs/notes: not a lab folder", "number 1 is also labs/"} {
		if !strings.Contains(probs, want) {
			t.Fatalf("problems:\n%s\nwant %q", probs, want)
		}
	}
	if strings.Contains(probs, "hidden") {
		t.Fatalf("a dot folder is not a problem:\n%s", probs)
	}
}

func TestDeclaredTestsAreTestFunctionsOnly(t *testing.T) {
	dir := t.TempDir()
	kittest.Write(t, dir, map[string]string{"a_test.go": `package a

import "testing"

func TestMain(m *testing.M) {}
func TestA(t *testing.T)   {}
func TestB(t *testing.T)   {}
func BenchmarkC(b *testing.B) {}
func Testing()              {}
func helper(t *testing.T)   {}
`})
	got, err := DeclaredTests(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["TestA"] != "a_test.go" || got["TestB"] != "a_test.go" {
		t.Fatalf("DeclaredTests = %v; want TestA and TestB", got)
	}
}

func TestSumRoundTrip(t *testing.T) {
	entries := []Entry{
		{KindShared, "shared/story/story.go", strings.Repeat("a", 40)},
		{KindTest, "labs/01-first/first_test.go", strings.Repeat("b", 40)},
		{KindStarter, "labs/01-first/work.go", strings.Repeat("c", 40)},
		{KindLab, "labs/01-first/lab.yaml", strings.Repeat("d", 40)},
	}
	data := FormatSum(entries)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "# Generated by `checker seal`") ||
		lines[1] != "test labs/01-first/first_test.go "+strings.Repeat("b", 40) || !strings.HasPrefix(lines[4], "shared ") {
		t.Fatalf("FormatSum:\n%s", data)
	}
	back, err := ParseSum(data)
	if err != nil || len(back) != 4 {
		t.Fatalf("ParseSum = %v, %v", back, err)
	}
	for _, bad := range []string{"test labs/x_test.go nothex\n", "other labs/x " + strings.Repeat("a", 40) + "\n",
		"test a " + strings.Repeat("a", 40) + "\nlab a " + strings.Repeat("b", 40) + "\n"} {
		if _, err := ParseSum([]byte(bad)); err == nil || !strings.Contains(err.Error(), "labs/labs.sum:") {
			t.Fatalf("ParseSum(%q) = %v; want a problem naming the line", bad, err)
		}
	}
}

func TestFindRoot(t *testing.T) {
	root := kittest.New(t)
	got, err := FindRoot(filepath.Join(root, "labs", "01-first"))
	if err != nil || got != root {
		t.Fatalf("FindRoot = %q, %v; want %q", got, err, root)
	}
	other := t.TempDir()
	kittest.Write(t, other, map[string]string{"go.mod": "module example.com/other\n"})
	if _, err := FindRoot(other); err == nil {
		t.Fatal("FindRoot accepted a module that is not msglabs")
	}
}

// TestTheKitsLabsLoad keeps the shipped metadata loadable: every lab folder of the kit is a usable lab.
func TestTheKitsLabsLoad(t *testing.T) {
	root, err := FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Load(root)
	if err != nil {
		t.Fatal(err)
	}
	if p := c.Problems(); len(p) > 0 {
		t.Fatalf("the kit's labs have problems:\n%s", strings.Join(p, "\n"))
	}
	if len(c.Labs) == 0 {
		t.Fatal("the kit has no labs")
	}
	for i, l := range c.Labs {
		if l.Number != i+1 {
			t.Fatalf("lab %d is at position %d: numbers must run 1, 2, 3 …", l.Number, i+1)
		}
	}
}

func TestStateAfterFollowsSnapshotsAndTheLastStep(t *testing.T) {
	// a.go changes in steps 1 and 3, b.go only in step 2.
	l := Lab{Slug: "09-x", Edit: []string{"a.go", "b.go"}, Steps: []Step{
		{Edit: []string{"a.go"}}, {Edit: []string{"b.go"}}, {Edit: []string{"a.go"}},
	}}
	if got := l.Snapshots(); len(got) != 1 || len(got["a.go"]) != 1 || got["a.go"][0] != 1 {
		t.Fatalf("Snapshots = %v; want a.go after step 1 only", got)
	}
	want := []map[string]string{
		{"a.go": "", "b.go": ""},
		{"a.go": "solutions/09-x/step-1/a.go", "b.go": ""},
		{"a.go": "solutions/09-x/step-1/a.go", "b.go": "solutions/09-x/b.go"},
		{"a.go": "solutions/09-x/a.go", "b.go": "solutions/09-x/b.go"},
	}
	for k, w := range want {
		got := l.StateAfter(k)
		for f := range w {
			if got[f] != w[f] {
				t.Errorf("StateAfter(%d)[%s] = %q, want %q", k, f, got[f], w[f])
			}
		}
	}
}
