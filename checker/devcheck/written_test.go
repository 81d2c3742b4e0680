package devcheck

import (
	"context"
	"strings"
	"testing"

	"msglabs/checker/kittest"
)

// writtenLab returns kittest's lab with a written step as lab 3 of the clean kit (03-written), grown to meet every
// rule: a README showing step 1's failure, a deck, links in the hints.
func writtenLab() map[string]string {
	out := map[string]string{}
	for rel, content := range kittest.WrittenFiles() {
		out[strings.Replace(rel, "04-written", "03-written", 1)] = content
	}
	out["labs/03-written/lab.yaml"] = strings.NewReplacer(
		`"One: think about it."`, `"One: see https://go.dev/ref/spec#Return_statements"`,
		`"Mine: what should a discount of 10.00 be?"`, `"Mine: see https://pkg.go.dev/testing"`,
		"edit: [work.go, mine_test.go]\n", "edit: [work.go, mine_test.go]\nlecture: 10\n",
	).Replace(kittest.WrittenMeta)
	out["labs/03-written/README.md"] = labReadme("TestFirst", "LOST: order o-4 went missing (1 placed, 0 billed)")
	out["slides/03-written.md"] = slides
	return out
}

// writtenCleanKit is the clean kit with writtenLab added and resealed.
func writtenCleanKit(t *testing.T, plant map[string]string) string {
	t.Helper()
	root := t.TempDir()
	copyTree(t, cleanKit(t), root)
	kittest.Write(t, root, writtenLab())
	kittest.Write(t, root, plant)
	reseal(t, root)
	return root
}

// A lab whose step has the attendee write a test meets every rule: their test file is an edit file without the
// "Do not edit" header, its solution says why this test, and the planted bug is well-formed.
func TestAWrittenStepFollowsEveryRule(t *testing.T) {
	root := writtenCleanKit(t, nil)
	rep := Check(context.Background(), load(t, root), strict())
	if len(rep.Problems) != 0 || rep.Labs != 3 {
		t.Fatalf("%d labs, problems:\n%s", rep.Labs, problems(rep))
	}
}

func TestAWrittenStepsViolationsAreCaught(t *testing.T) {
	planted := "labs/03-written/testdata/planted/off-by-ten/service.go"
	buggy := kittest.WrittenFiles()["labs/04-written/testdata/planted/off-by-ten/service.go"]
	cases := []struct {
		rule  Rule
		file  string
		plant map[string]string
	}{
		{RulePlanted, planted, map[string]string{planted: strings.Replace(buggy, "Planted bug off-by-ten", "A bug", 1)}},
		{RulePlanted, "labs/03-written/testdata/planted/stray", map[string]string{"labs/03-written/testdata/planted/stray/service.go": buggy}},
		{RulePlanted, "labs/03-written/testdata/planted/off-by-ten/work.go", map[string]string{
			"labs/03-written/testdata/planted/off-by-ten/work.go": "// Planted bug off-by-ten: the discount is a hundredth instead of a tenth\npackage written\n"}},
		{RulePackage, planted, map[string]string{planted: strings.Replace(buggy, "package written", "package other", 1)}},
		{RuleTests, "labs/03-written/written_test.go", map[string]string{
			"labs/03-written/mine_test.go": "package written\n\n// TODO(lab): write TestMine.\n",
			"labs/03-written/written_test.go": kittest.WrittenFiles()["labs/04-written/written_test.go"] +
				"\nfunc TestMine(t *testing.T) {}\n"}},
		{RuleSolution, "solutions/03-written/mine_test.go", map[string]string{"solutions/03-written/mine_test.go": "//go:build solution\n\n" +
			kittest.WrittenTest(100, "LOST: wrong")}},
	}
	for _, tc := range cases {
		t.Run(string(tc.rule)+" "+tc.file, func(t *testing.T) {
			rep := Check(context.Background(), load(t, writtenCleanKit(t, tc.plant)), strict(tc.rule))
			for _, p := range rep.Problems {
				if p.Rule == tc.rule && strings.HasPrefix(p.File, tc.file) && !p.Pending {
					return
				}
			}
			t.Fatalf("rule %s did not catch the violation in %s; problems:\n%s", tc.rule, tc.file, problems(rep))
		})
	}
}
