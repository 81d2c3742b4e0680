package verify

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"msglabs/checker/kittest"
	"msglabs/checker/lab"
	"msglabs/checker/seal"
)

// fixtureKit copies testdata/kit (two throw-away labs, see its README), changes the files in edits (slash path →
// content), commits, seals and commits it again: a kit as shipped.
func fixtureKit(t *testing.T, edits map[string]string) *lab.Catalog {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs test binaries")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go is not on PATH")
	}
	root := t.TempDir()
	err := filepath.WalkDir("testdata/kit", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel("testdata/kit", p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		kittest.Write(t, root, map[string]string{filepath.ToSlash(rel): string(data)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	kittest.Write(t, root, edits)
	return seal1(t, root)
}

func seal1(t *testing.T, root string) *lab.Catalog {
	t.Helper()
	c, err := lab.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	if probs := c.Problems(); len(probs) > 0 {
		t.Fatalf("the fixture kit has problems: %v", probs)
	}
	if _, err := seal.Write(c); err != nil {
		t.Fatal(err)
	}
	kittest.Commit(t, root)
	if c, err = lab.Load(root); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAllVerifiesStepsMistakesAndChaosInOrder(t *testing.T) {
	c := fixtureKit(t, nil)
	var order []string
	sum := All(context.Background(), c, c.Labs, Options{Count: 2}, func(r Result) { order = append(order, r.Slug) })
	if !sum.Verified || sum.Infra() || len(sum.Labs) != 2 {
		t.Fatalf("summary = %+v", sum)
	}
	if want := []string{"01-steps", "02-plain"}; !reflect.DeepEqual(order, want) {
		t.Fatalf("reported %v, want %v", order, want)
	}
	r := sum.Labs[0]
	if !r.Verified || r.Reason != "" || r.Error != "" {
		t.Fatalf("lab 1 = %+v", r)
	}
	if want := []string{"TestRedeliveryChargesOnce", "TestRestartChargesOnce"}; !reflect.DeepEqual(r.Starter.FailedTests, want) {
		t.Fatalf("starter failed %v, want %v", r.Starter.FailedTests, want)
	}
	if len(r.Steps) != 1 || !r.Steps[0].OK || r.Steps[0].Step != 2 {
		t.Fatalf("steps = %+v", r.Steps)
	}
	if !r.Solution.Passed || r.Solution.Count != 2 {
		t.Fatalf("solution = %+v", r.Solution)
	}
	if r.Chaos == nil || !r.Chaos.Passed || r.Chaos.Runs != 3 || r.Chaos.Starter != starterAlreadyFails {
		t.Fatalf("chaos = %+v", r.Chaos)
	}
	var caught []string
	for _, m := range r.Mistakes {
		if !m.OK {
			t.Fatalf("mistake %s: %s", m.Name, m.Problem)
		}
		caught = append(caught, m.Name+"="+m.Caught.Test)
	}
	want := []string{"skip-all=TestEveryOrderIsCharged", "memory-only=TestRestartChargesOnce", "prefix-key=TestChaos"}
	if !reflect.DeepEqual(caught, want) {
		t.Fatalf("mistakes = %v, want %v", caught, want)
	}
	line := r.Line()
	for _, part := range []string{"✓ 01-steps", "steps 2–2 fail in turn", "solution passes ×2 (-race)",
		"chaos stage passes (3 runs)", "README's 2 headlines as printed", "3 of 3 mistakes caught"} {
		if !strings.Contains(line, part) {
			t.Fatalf("line %q lacks %q", line, part)
		}
	}
}

func TestLabReportsEachCheckThatFails(t *testing.T) {
	final := kittest.Read(t, "testdata/kit", "solutions/01-steps/billing.go")
	c := fixtureKit(t, map[string]string{
		// The step-1 snapshot already does step 2, so step 2 has nothing left to fail.
		"solutions/01-steps/step-1/billing.go": final,
		// A mistake identical to the solution is caught by nothing.
		"labs/01-steps/testdata/mistakes/memory-only/billing.go": strings.Replace(final, "//go:build solution\n\n", "", 1),
		// A fixture that does not compile is the kit's bug, named by the lab's file.
		"labs/01-steps/testdata/mistakes/skip-all/billing.go": "package steps\n\nfunc (b *Billing) Handle(id string) { return 1 }\n",
	})
	l, _ := c.Lab(1)
	r := Lab(context.Background(), c, l, Options{})
	if r.Verified || r.Error != "" || r.Infra {
		t.Fatalf("result = %+v", r)
	}
	for _, want := range []string{
		"after step 1: TestRestartChargesOnce passed, expected it to fail with DUPLICATE",
		"mistake memory-only is not caught: TestRestartChargesOnce passed, expected it to fail with DUPLICATE",
		"mistake skip-all does not compile: labs/01-steps/billing.go:3:",
	} {
		if !strings.Contains(r.Reason, want) {
			t.Errorf("reason lacks %q:\n%s", want, r.Reason)
		}
	}
	if !r.Solution.Passed || r.Chaos == nil || !r.Chaos.Passed {
		t.Fatalf("the solution checks should still pass: solution %+v, chaos %+v", r.Solution, r.Chaos)
	}
	if !strings.HasPrefix(r.Line(), "✗ 01-steps  after step 1:") || !strings.Contains(r.Line(), "logs: .msglabs/verify/01-steps/") {
		t.Fatalf("line = %q", r.Line())
	}
	// The full output of each run stays for the maintainer.
	if log := kittest.Read(t, c.Root, r.Logs+"/mistake-memory-only/last.log"); !strings.Contains(log, "--- PASS: TestRestartChargesOnce") {
		t.Fatalf("mistake memory-only's log:\n%s", log)
	}
}

// A README whose failure headline is not what the test prints before its step is not verified, and the reason says
// where, what each says, and how to regenerate it: make test judges the headlines here, from the runs it makes anyway.
func TestAStaleReadmeHeadlineIsNotVerified(t *testing.T) {
	c := fixtureKit(t, map[string]string{
		"labs/01-steps/README.md": strings.Replace(kittest.Read(t, "testdata/kit", "labs/01-steps/README.md"),
			"DUPLICATE: order o-1 was charged 2 times\n```\n\n## Step 2", "LOST: order o-1 was never charged\n```\n\n## Step 2", 1),
	})
	l, _ := c.Lab(1)
	r := Lab(context.Background(), c, l, Options{})
	want := `labs/01-steps/README.md:7: TestRedeliveryChargesOnce's headline is not what the test printed ` +
		`(README "LOST: order o-1 was never charged", printed "DUPLICATE: order o-1 was charged 2 times"); fix: go run ./checker dev readme`
	if r.Verified || r.Reason != want {
		t.Fatalf("verified %v, reason:\n%s\nwant:\n%s", r.Verified, r.Reason, want)
	}
	if r.Headlines != 1 {
		t.Fatalf("headlines borne out = %d, want 1 (step 2's)", r.Headlines)
	}
}

func TestSolutionThatFailsOnlyTheChaosStage(t *testing.T) {
	c := fixtureKit(t, map[string]string{
		"solutions/01-steps/billing.go": "//go:build solution\n\n" +
			kittest.Read(t, "testdata/kit", "labs/01-steps/testdata/mistakes/prefix-key/billing.go"),
	})
	l, _ := c.Lab(1)
	r := Lab(context.Background(), c, l, Options{})
	if r.Verified || !r.Solution.Passed || r.Chaos == nil || r.Chaos.Passed {
		t.Fatalf("result = %+v, chaos = %+v", r, r.Chaos)
	}
	if want := "solution fails the chaos stage: TestChaos (LOST: order o-10 was never charged"; !strings.Contains(r.Chaos.Problem, want) {
		t.Fatalf("chaos problem = %q, want %q", r.Chaos.Problem, want)
	}
}

func TestInfraIsInfrastructureAndStopsVerify(t *testing.T) {
	c := fixtureKit(t, nil)
	// Lab 2 first: its tests fail with INFRA; lab 1, after it, is not reported.
	labs := []lab.Lab{c.Labs[1], c.Labs[0]}
	sum := All(context.Background(), c, labs, Options{Env: []string{"FIXTURE_INFRA=1"}}, nil)
	if sum.Verified || !sum.Infra() || len(sum.Labs) != 1 {
		t.Fatalf("summary = %+v", sum)
	}
	r := sum.Labs[0]
	if !r.Infra || r.Reason != "INFRA: RabbitMQ refused the login (ACCESS_REFUSED); fix: check the user and password in MSGLABS_AMQP_URL" {
		t.Fatalf("result = %+v", r)
	}
	if strings.Contains(r.Line(), "solution") || !strings.Contains(r.Line(), "not verified, infrastructure: INFRA: RabbitMQ") {
		t.Fatalf("line = %q", r.Line())
	}
}

func TestLabVerifiesWithoutTouchingTheAttendeesFiles(t *testing.T) {
	c := fixtureKit(t, nil)
	// The attendee solved lab 2, "improved" its test and added a test of their own; verify judges the kit as shipped.
	mine := map[string]string{
		"labs/02-plain/work.go":       "package plain\n\nfunc Fixed() bool { return true }\n",
		"labs/02-plain/plain_test.go": "package plain\n\nimport \"testing\"\n\nfunc TestFixed(t *testing.T) {}\n\nfunc TestFine(t *testing.T) {}\n",
		"labs/02-plain/extra_test.go": "package plain\n\nimport \"testing\"\n\nfunc TestExtra(t *testing.T) { t.Fatal(\"LOST: extra\") }\n",
	}
	kittest.Write(t, c.Root, mine)
	l, _ := c.Lab(2)
	r := Lab(context.Background(), c, l, Options{})
	if !r.Verified || strings.Join(r.Starter.FailedTests, ",") != "TestFixed" || r.Starter.Markers["TestFixed"] != "LOST" {
		t.Fatalf("result = %+v", r)
	}
	for rel, content := range mine {
		if kittest.Read(t, c.Root, rel) != content {
			t.Fatalf("verify changed %s", rel)
		}
	}
}

func TestLabWhoseShippedStarterIsNotInGit(t *testing.T) {
	c := fixtureKit(t, nil)
	l, _ := c.Lab(2)
	kittest.Write(t, c.Root, map[string]string{"labs/02-plain/work.go": "package plain\n"})
	l.Sealed.Starter = map[string]string{"work.go": seal.BlobID([]byte("never committed"))}
	r := Lab(context.Background(), c, l, Options{})
	if r.Verified || !strings.Contains(r.Error, "is not available from git") {
		t.Fatalf("result = %+v", r)
	}
}

func TestStrictRejectsStaleSeal(t *testing.T) {
	c := fixtureKit(t, nil)
	kittest.Write(t, c.Root, map[string]string{"labs/02-plain/work.go": "package plain\n\nfunc Fixed() bool { return true }\n"})
	l, _ := c.Lab(2)
	r := Lab(context.Background(), c, l, Options{Strict: true})
	if r.Verified || !strings.Contains(r.Error, "seal is stale") {
		t.Fatalf("result = %+v", r)
	}
}

// The line counts the README's headlines in words a reader expects: one headline, or N headlines.
func TestLineCountsTheHeadlines(t *testing.T) {
	for n, want := range map[int]string{0: "", 1: " · README's headline as printed ·", 3: " · README's 3 headlines as printed ·"} {
		line := Result{Slug: "01-x", Verified: true, Headlines: n}.Line()
		if want == "" && strings.Contains(line, "README") || want != "" && !strings.Contains(line, want) {
			t.Errorf("%d headlines: line %q, want %q in it", n, line, want)
		}
	}
}
