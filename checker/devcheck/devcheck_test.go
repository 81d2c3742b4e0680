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
)

// labMeta is a sample lab's lab.yaml that meets every rule.
func labMeta(title, test, marker string) string {
	return `title: "` + title + `"
summary: An order goes missing.
edit: [work.go]
lecture: 10
steps:
  - title: the order arrives
    concept: Fixed must say true
    solo: 10
    mob: 5
    failing:
      - test: ` + test + `
        marker: ` + marker + `
    guards: [TestFine]
    hints:
      - "What does Fixed promise? See https://go.dev/ref/spec#Return_statements"
      - "Make Fixed() return true."
`
}

func labReadme(test, headline string) string {
	return "# Lab\n\n## The failure\n\n<!-- output: " + test + " -->\n```\n" + headline + "\n\ntimeline:\n  …\n```\n"
}

const slides = "# The lab\n\nOrders vanish\n\nNote: tell the story.\n\n---\n\n## The fix\n\nNote: say why.\n"

func solution(pkg string) string {
	return "//go:build solution\n\n// Why this fix: Fixed must say so. This is one good answer, not the only one.\n\n" + kittest.Solved(pkg)
}

// cleanKit is the sample kit grown into one that follows every convention, sealed, committed, generated.
func cleanKit(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs go")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go is not on PATH")
	}
	root := kittest.New(t)
	kittest.Write(t, root, map[string]string{
		"README.md":                    "# kit\n\nAcross ten labs.\n\n<!-- labs:begin -->\n<!-- labs:end -->\n\n<!-- markers:begin -->\n<!-- markers:end -->\n",
		"labs/01-first/lab.yaml":       labMeta("First lab", "TestLost", "LOST"),
		"labs/02-second/lab.yaml":      labMeta("Second: the sequel", "TestTwice", "DUPLICATE"),
		"labs/01-first/README.md":      labReadme("TestLost", "LOST: order o-17 went wrong (1 placed, 0 billed)"),
		"labs/02-second/README.md":     labReadme("TestTwice", "DUPLICATE: order o-17 went wrong (1 placed, 0 billed)"),
		"slides/01-first.md":           slides,
		"slides/02-second.md":          slides,
		"solutions/01-first/work.go":   solution("first"),
		"solutions/02-second/work.go":  solution("second"),
		"shared/story/story.go":        "// Package story is a stand-in.\npackage story\n",
		"labs/01-first/testdata/x.txt": "fixture\n",
	})
	reseal(t, root)
	kittest.Commit(t, root)
	return root
}

// reseal regenerates labs.sum and the generated parts of the documents.
func reseal(t *testing.T, root string) {
	t.Helper()
	c := load(t, root)
	if _, err := seal.Write(c); err != nil {
		t.Fatal(err)
	}
	if _, err := readme.Sync(c); err != nil {
		t.Fatal(err)
	}
}

func load(t *testing.T, root string) *lab.Catalog {
	t.Helper()
	c, err := lab.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// strict enforces every rule, pending ones included, with limits the clean kit meets.
func strict(rules ...Rule) Options {
	o := Options{Rules: rules, Enforce: map[Rule]bool{}, Limits: Limits{MinHints: 2, MaxHints: 4, MinMistakes: 0}}
	for _, r := range AllRules() {
		o.Enforce[r] = true
	}
	return o
}

func TestCleanKitPassesEveryRule(t *testing.T) {
	root := cleanKit(t)
	rep := Check(context.Background(), load(t, root), strict())
	if len(rep.Problems) != 0 || rep.Labs != 2 {
		t.Fatalf("%d labs, problems:\n%s", rep.Labs, problems(rep))
	}
}

func problems(rep Report) string {
	var b strings.Builder
	for _, p := range rep.Problems {
		b.WriteString("  " + string(p.Rule) + ": " + p.String() + "\n")
	}
	return b.String()
}

// TestEachRuleCatchesItsViolation plants one violation per rule in a copy of the clean kit and requires that rule
// to report it, naming the file.
func TestEachRuleCatchesItsViolation(t *testing.T) {
	clean := cleanKit(t)
	meta1 := labMeta("First lab", "TestLost", "LOST")
	cases := []struct {
		rule   Rule
		file   string // the problem names this file
		plant  map[string]string
		remove []string
		reseal bool // the violation is in the shipped kit: reseal after planting it
		opts   func(*Options)
	}{
		{rule: RuleMeta, file: "labs/01-first/lab.yaml", plant: map[string]string{"labs/01-first/lab.yaml": meta1 + "hint: x\n"}},
		{rule: RuleNumbers, file: "labs/03-third", plant: map[string]string{
			"labs/03-third/lab.yaml": labMeta("Third", "TestLost", "LOST"), "labs/03-third/work.go": kittest.Starter("third"),
			"labs/03-third/third_test.go": "// Do not edit: x\npackage third\n\nimport \"testing\"\n\nfunc TestLost(t *testing.T) {}\nfunc TestFine(t *testing.T) {}\n",
		}, remove: []string{"labs/02-second"}},
		{rule: RuleReadme, file: "labs/02-second/README.md", remove: []string{"labs/02-second/README.md"}},
		{rule: RuleReadme, file: "README.md", plant: map[string]string{"labs/01-first/lab.yaml": strings.Replace(meta1, "First lab", "Renamed", 1)}},
		{rule: RuleSteps, file: "labs/01-first/lab.yaml", plant: map[string]string{"labs/01-first/lab.yaml": strings.Replace(meta1, "    concept: Fixed must say true\n", "", 1)}},
		{rule: RuleTodo, file: "labs/01-first/work.go", reseal: true, plant: map[string]string{
			"labs/01-first/work.go": strings.Replace(kittest.Starter("first"), "\t// TODO(lab): fix it.\n", "", 1)}},
		{rule: RuleTestHeader, file: "labs/01-first/first_test.go", reseal: true, plant: map[string]string{
			"labs/01-first/first_test.go": strings.Replace(kittest.Files()["labs/01-first/first_test.go"], "// Do not edit: this test shows the failure.\n", "", 1)}},
		{rule: RuleSolution, file: "solutions/01-first/work.go", plant: map[string]string{"solutions/01-first/work.go": "//go:build solution\n\n" + kittest.Solved("first")}},
		{rule: RuleSolution, file: "solutions/01-first/extra.go", plant: map[string]string{"solutions/01-first/extra.go": solution("first")}},
		{rule: RulePackage, file: "solutions/01-first/work.go", plant: map[string]string{"solutions/01-first/work.go": solution("other")}},
		{rule: RuleHints, file: "labs/01-first/lab.yaml", plant: map[string]string{"labs/01-first/lab.yaml": strings.Replace(meta1, "      - \"Make Fixed() return true.\"\n", "", 1)}},
		{rule: RuleHints, file: "labs/01-first/lab.yaml", plant: map[string]string{"labs/01-first/lab.yaml": strings.Replace(meta1, "Make Fixed() return true.", "Think harder.", 1)}},
		{rule: RuleLinks, file: "labs/01-first/lab.yaml", plant: map[string]string{"labs/01-first/lab.yaml": strings.Replace(meta1, " See https://go.dev/ref/spec#Return_statements", "", 1)}},
		{rule: RuleSlides, file: "slides/01-first.md", remove: []string{"slides/01-first.md"}},
		{rule: RuleSlideNotes, file: "slides/01-first.md:8", plant: map[string]string{"slides/01-first.md": strings.Replace(slides, "Note: say why.\n", "", 1)}},
		{rule: RuleTests, file: "labs/01-first/lab.yaml", reseal: true, plant: map[string]string{
			"labs/01-first/extra_test.go": "// Do not edit: x\npackage first\n\nimport \"testing\"\n\nfunc TestUnlisted(t *testing.T) {}\n"}},
		{rule: RuleTests, file: "labs/01-first/lab.yaml", plant: map[string]string{"labs/01-first/lab.yaml": strings.Replace(meta1, "[TestFine]", "[TestFine, TestGone]", 1)}},
		{rule: RuleSnapshots, file: "solutions/01-first/step-1/work.go", plant: map[string]string{"labs/01-first/lab.yaml": strings.Replace(meta1, "    guards: [TestFine]\n", "", 1) +
			"  - title: again\n    concept: c\n    solo: 1\n    mob: 1\n    failing: [{test: TestFine, marker: LOST}]\n    hints: [\"a\", \"b()\"]\n"}},
		{rule: RuleMistakes, file: "labs/01-first/testdata/mistakes/always-false", plant: map[string]string{"labs/01-first/lab.yaml": meta1 +
			"mistakes:\n  - name: always-false\n    step: 1\n    says: it returns false\n    caught: {test: TestLost, marker: LOST}\n"}},
		{rule: RuleMistakes, file: "labs/01-first/testdata/mistakes/always-false/work.go", plant: map[string]string{
			"labs/01-first/lab.yaml":                               meta1 + "mistakes:\n  - name: always-false\n    step: 1\n    says: it returns false\n    caught: {test: TestLost, marker: LOST}\n",
			"labs/01-first/testdata/mistakes/always-false/work.go": "// Mistake always-false: something else\npackage first\n"}},
		{rule: RuleMistakeCount, file: "labs/01-first/lab.yaml", opts: func(o *Options) { o.Limits.MinMistakes = 1 }},
		{rule: RuleOutputs, file: "labs/01-first/README.md", plant: map[string]string{"labs/01-first/README.md": "# Lab 1 · First lab\n\nNo failure shown.\n"}},
		{rule: RuleOutputs, file: "labs/01-first/README.md:7", plant: map[string]string{"labs/01-first/README.md": labReadme("TestLost", "DUPLICATE: wrong marker")}},
		{rule: RuleUnannotated, file: "labs/01-first/README.md:14", plant: map[string]string{
			"labs/01-first/README.md": labReadme("TestLost", "LOST: order o-17 went wrong (1 placed, 0 billed)") + "\n```\nLOST: a stale copy\n```\n"}},
		{rule: RuleHeadline, file: "labs/01-first/README.md:7", plant: map[string]string{"labs/01-first/README.md": labReadme("TestLost", "LOST: order o-17 was billed by nobody")}},
		{rule: RuleSleep, file: "labs/01-first/first_test.go:9", reseal: true, plant: map[string]string{
			"labs/01-first/first_test.go": "// Do not edit: this test shows the failure.\npackage first\n\nimport (\n\t\"testing\"\n\tclock \"time\"\n)\n\nfunc TestFine(t *testing.T) { clock.Sleep(1) }\n\nfunc TestLost(t *testing.T) {}\n"}},
		{rule: RuleAgenda, file: "the instructor guide", opts: func(o *Options) {
			o.Agenda = func(string, []lab.Lab) []string { return []string{"INSTRUCTORS.md: lab 2 is missing from the agenda"} }
		}},
		{rule: RuleFmt, file: "shared/story/story.go", plant: map[string]string{"shared/story/story.go": "package story\nvar  X = 1\n"}},
		{rule: RuleVet, file: "solutions/01-first/work.go:", plant: map[string]string{"solutions/01-first/work.go": solution("first") +
			"\nfunc vetMe() string { return fmt.Sprintf(\"%d\", \"not a number\") }\n"}},
	}
	for _, tc := range cases {
		t.Run(string(tc.rule)+" "+tc.file, func(t *testing.T) {
			root := t.TempDir()
			copyTree(t, clean, root)
			kittest.Write(t, root, tc.plant)
			for _, rel := range tc.remove {
				if err := os.RemoveAll(filepath.Join(root, rel)); err != nil {
					t.Fatal(err)
				}
			}
			if tc.rule == RuleVet { // the planted Sprintf needs its import
				data := strings.Replace(kittest.Read(t, root, "solutions/01-first/work.go"), "package first\n", "package first\n\nimport \"fmt\"\n", 1)
				kittest.Write(t, root, map[string]string{"solutions/01-first/work.go": data})
			}
			if tc.reseal {
				reseal(t, root)
			}
			o := strict(tc.rule)
			if tc.opts != nil {
				tc.opts(&o)
			}
			rep := Check(context.Background(), load(t, root), o)
			for _, p := range rep.Problems {
				if p.Rule == tc.rule && strings.HasPrefix(p.File, tc.file) && !p.Pending && p.What != "" {
					return
				}
			}
			t.Fatalf("rule %s did not catch the violation in %s; problems:\n%s", tc.rule, tc.file, problems(rep))
		})
	}
}

func TestPendingRulesReportWithoutFailing(t *testing.T) {
	root := cleanKit(t)
	kittest.Write(t, root, map[string]string{"labs/01-first/lab.yaml": strings.Replace(labMeta("First lab", "TestLost", "LOST"),
		" See https://go.dev/ref/spec#Return_statements", "", 1)})
	// Every rule is enforced today; a new rule starts pending like this one.
	rep := Check(context.Background(), load(t, root), Options{Rules: []Rule{RuleLinks}, Enforce: map[Rule]bool{RuleLinks: false}})
	if len(rep.Problems) != 1 || !rep.Problems[0].Pending || rep.Failed() {
		t.Fatalf("links made pending: want one pending problem and no failure; got failed=%v\n%s", rep.Failed(), problems(rep))
	}
}

func TestTheKitFollowsTheEnforcedRules(t *testing.T) {
	root, err := lab.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	// The rules that run go (fmt, vet, headline) run in make test's own stages.
	rep := Check(context.Background(), load(t, root), Options{Skip: []Rule{RuleFmt, RuleVet, RuleHeadline}})
	if rep.Failed() {
		t.Fatalf("the kit breaks its conventions:\n%s", problems(rep))
	}
}

// copyTree copies the files under src (its git repository too) into dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestEveryRuleIsDescribedAndDocumented keeps `dev check --list` and DEVELOPERS.md's table complete.
func TestEveryRuleIsDescribedAndDocumented(t *testing.T) {
	root, err := lab.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	doc := kittest.Read(t, root, "DEVELOPERS.md")
	for _, r := range AllRules() {
		if Describe[r] == "" {
			t.Errorf("rule %s has no description", r)
		}
		if _, ok := Enforced[r]; !ok {
			t.Errorf("rule %s is neither enforced nor pending in Enforced", r)
		}
		if !strings.Contains(doc, "`"+string(r)+"`") {
			t.Errorf("DEVELOPERS.md's dev check table does not name rule %s", r)
		}
	}
}

// TestTheAttendeesEditsAreNotJudged: make test judges the kit as shipped. An attendee's half-done edit file (not
// formatted, failing vet, its TODO gone) breaks none of the rules that look at edit files.
func TestTheAttendeesEditsAreNotJudged(t *testing.T) {
	root := cleanKit(t)
	kittest.Write(t, root, map[string]string{"labs/01-first/work.go": "package first\n\nimport \"fmt\"\n\nfunc  Fixed() bool { return fmt.Sprintf(\"%d\", \"x\") != \"\" }\n"})
	rep := Check(context.Background(), load(t, root), strict(RuleFmt, RuleVet, RuleTodo))
	if len(rep.Problems) != 0 {
		t.Fatalf("the attendee's work.go was judged:\n%s", problems(rep))
	}
}
