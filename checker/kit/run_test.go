package kit

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/checker/doctor"
	"msglabs/checker/gotest"
	"msglabs/checker/kittest"
	"msglabs/checker/progress"
)

func mistakeNames(res *RunResult) []string {
	var out []string
	for _, m := range res.Mistakes {
		out = append(out, m.Name)
	}
	return out
}

func run(t *testing.T, k *Kit, n int, o RunOptions) *RunResult {
	t.Helper()
	res, err := k.Run(context.Background(), n, o, nil)
	if err != nil {
		t.Fatalf("run lab %d: %v", n, err)
	}
	return res
}

func TestHintsFollowTheCurrentStep(t *testing.T) {
	root := kittest.NewStepped(t)
	k := open(t, root, false)
	for i, want := range []string{"One: think about it.", "One: return true.", "One: return true."} {
		h, err := k.NextHint(3, 0)
		if err != nil || h.Text != want || h.Step != 1 || h.Steps != 2 || h.Total != 2 {
			t.Fatalf("hint %d before any run = %+v, %v; want step 1's %q", i, h, err, want)
		}
	}
	// The last run passed step 1: the current step is 2, with hints of its own.
	record(t, k, "03-steps", progress.Run{At: k.Now(), Steps: []bool{true, false}})
	h, err := k.NextHint(3, 0)
	if err != nil || h.Step != 2 || h.Index != 0 || h.StepTitle != "the second concept" || h.Text != "Two: think about it." {
		t.Fatalf("hint after step 1 passed = %+v, %v; want step 2's first", h, err)
	}
	if h, err := k.NextHint(3, 1); err != nil || h.Step != 1 || !h.Last() {
		t.Fatalf("hint of step 1 asked for by number = %+v, %v; want its last again", h, err)
	}
	all, err := k.Hints(3, 2)
	if err != nil || len(all) != 3 || all[2].Text != "Two: really, return true." {
		t.Fatalf("all hints of step 2 = %+v, %v", all, err)
	}
	li, _ := open(t, root, false).Info(3)
	if li.Current != 2 || li.StepInfos[0].HintsShown != 2 || li.StepInfos[1].HintsShown != 3 || li.HintsShown != 5 || li.StartedAt.IsZero() {
		t.Fatalf("lab after reopening: current %d, steps %+v, hints %d, started %v", li.Current, li.StepInfos, li.HintsShown, li.StartedAt)
	}
	if _, err := k.NextHint(3, 3); err == nil || !strings.Contains(err.Error(), "no step 3") {
		t.Fatalf("hint of step 3 of a 2-step lab: %v", err)
	}
}

func TestRunRecordsOnlyWhenAskedAndUnlocks(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test")
	}
	root := sealed(t)
	k := open(t, root, false)
	var finished []string
	res, err := k.Run(context.Background(), 1, RunOptions{}, func(ev gotest.Event) {
		if ev.Kind == gotest.TestFinished {
			finished = append(finished, ev.Test)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome() != Failing || res.Current != 1 || len(finished) != 2 || res.Recorded {
		t.Fatalf("starter run: outcome %s, current step %d, finished %v, recorded %v", res.Outcome(), res.Current, finished, res.Recorded)
	}
	if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(progress.File))); err == nil {
		t.Fatal("running a lab wrote the progress; only Record may")
	}
	if err := k.Record(res); err != nil || !res.Recorded || len(res.Unlocked) != 0 {
		t.Fatalf("record the starter run: %v, recorded %v, unlocked %v", err, res.Recorded, res.Unlocked)
	}
	if l := k.List(); l[0].Status != progress.Failing || l[1].Status != progress.Locked || l[0].StepInfos[0].Status != StepFailing {
		t.Fatalf("list after a failing run = %+v", l)
	}
	kittest.Write(t, root, map[string]string{"labs/01-first/work.go": kittest.Solved("first")})
	res = run(t, k, 1, RunOptions{})
	if err := k.Record(res); err != nil || !res.Passed() || strings.Join(res.Unlocked, ",") != "lab 2,solution 1" {
		t.Fatalf("solved run: outcome %s, unlocked %v, %v", res.Outcome(), res.Unlocked, err)
	}
	if l := open(t, root, false).List(); l[0].Status != progress.Passed || l[1].Status != progress.Todo {
		t.Fatalf("list after reopening = %+v", l)
	}
}

func TestRunPresentsTheFirstFailingStepThenChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test")
	}
	root := stepped(t)
	k := open(t, root, true)
	write := func(first, second, careless, sturdy bool) {
		kittest.Write(t, root, map[string]string{"labs/03-steps/work.go": kittest.SteppedWork(first, second, careless, sturdy)})
	}
	res := run(t, k, 3, RunOptions{})
	if res.Current != 1 || res.Steps[0].Passed || res.Steps[1].Passed || res.Chaos != nil || len(res.NotCounted) != 0 {
		t.Fatalf("starter: current %d, steps %+v, chaos %v, not counted %v", res.Current, res.Steps, res.Chaos, res.NotCounted)
	}
	if f := res.Steps[0].Failed(); len(f) != 1 || f[0].Name != "TestFirst" || f[0].Marker != "LOST" {
		t.Fatalf("step 1's failures = %+v, want TestFirst with LOST", f)
	}

	write(true, false, false, false)
	if res = run(t, k, 3, RunOptions{}); res.Current != 2 || !res.Steps[0].Passed {
		t.Fatalf("step 1 done: current %d, steps %+v", res.Current, res.Steps)
	}

	write(true, false, true, false) // step 1 "fixed" by a known wrong fix
	res = run(t, k, 3, RunOptions{})
	if res.Current != 1 || !slices.Equal(mistakeNames(res), []string{"bill-twice"}) {
		t.Fatalf("wrong fix: current %d, mistakes %v; want step 1 failing again and bill-twice named", res.Current, mistakeNames(res))
	}

	write(true, true, false, false) // visible tests pass; the chaos stage does not
	res = run(t, k, 3, RunOptions{})
	switch {
	case res.Kind != gotest.Passed || res.Current != 0:
		t.Fatalf("visible tests: kind %s, current %d; want all steps passing", res.Kind, res.Current)
	case res.Chaos == nil || res.Chaos.Passed() || res.Chaos.Runs != 3:
		t.Fatalf("chaos stage: %+v; want it run with the lab's 3 schedules, failing", res.Chaos)
	case res.Outcome() != Failing || !slices.Equal(mistakeNames(res), []string{"fragile"}):
		t.Fatalf("outcome %s, mistakes %v; want failing, fragile named", res.Outcome(), mistakeNames(res))
	}
	if err := k.Record(res); err != nil || len(res.Unlocked) != 0 {
		t.Fatalf("record: %v, unlocked %v", err, res.Unlocked)
	}
	if p := k.Progress.Lab("03-steps"); p.Passed || p.Step(2).LastRun != progress.RunPass {
		t.Fatalf("progress after a chaos failure: %+v; want not passed, both steps passing", p)
	}

	write(true, true, false, true)
	co, err := k.Chaos(context.Background(), 3, RunOptions{}, ChaosOptions{Seed: "42", Runs: 5}, nil)
	if err != nil || !co.ChaosOnly || !co.Chaos.Passed() || co.Chaos.Seed != "42" || co.Report != nil {
		t.Fatalf("chaos alone: %+v, %v", co, err)
	}
	if out := strings.Join(co.Chaos.Report.Tests[0].Output, "\n"); !strings.Contains(out, "chaos: 5 schedules from seed 42") {
		t.Fatalf("TestChaos did not get the seed and runs asked for; it said:\n%s", out)
	}
	res = run(t, k, 3, RunOptions{})
	if !res.Passed() {
		t.Fatalf("all fixed: outcome %s", res.Outcome())
	}
}

func TestNarrowedRunIsNotCounted(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test")
	}
	root := sealed(t)
	k := open(t, root, false)
	// The six-line fake of issue 10: the attendee's own file narrows the run to the test that already passes.
	kittest.Write(t, root, map[string]string{"labs/01-first/work.go": kittest.Starter("first") + `
func init() {
	os.Args = append(os.Args, "-test.run=^TestFine$")
}
`})
	kittest.Write(t, root, map[string]string{"labs/01-first/work.go": strings.Replace(kittest.Read(t, root, "labs/01-first/work.go"),
		"package first\n", "package first\n\nimport \"os\"\n", 1)})
	res := run(t, k, 1, RunOptions{})
	if res.Outcome() != NotCounted || res.Passed() || len(res.NotCounted) == 0 || !strings.Contains(res.NotCounted[0], "TestLost did not run") {
		t.Fatalf("narrowed run: outcome %s, not counted %q; want not counted, naming TestLost", res.Outcome(), res.NotCounted)
	}
	if err := k.Record(res); err != nil || res.Recorded {
		t.Fatalf("a not-counted run was recorded (%v)", err)
	}
}

func TestChangedTestOrSharedFileIsNotCounted(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test")
	}
	root := kittest.New(t)
	kittest.Write(t, root, map[string]string{"shared/fake/fake.go": "package fake\n"})
	sealKit(t, root)
	kittest.Write(t, root, map[string]string{
		"shared/fake/fake.go":         "package fake\n\n// Edited.\n",
		"labs/01-first/work.go":       kittest.Solved("first"),
		"labs/01-first/first_test.go": "package first\n\nimport \"testing\"\n\nfunc TestFine(t *testing.T) {}\n\nfunc TestLost(t *testing.T) {}\n",
		"labs/01-first/extra_test.go": "package first\n\nimport \"testing\"\n\nfunc TestAlwaysPasses(t *testing.T) {}\n",
	})
	k := open(t, root, false)
	res := run(t, k, 1, RunOptions{})
	why := strings.Join(res.NotCounted, "\n")
	if res.Outcome() != NotCounted || !strings.Contains(why, "first_test.go") || !strings.Contains(why, "extra_test.go") ||
		!strings.Contains(why, "shared/fake/fake.go") {
		t.Fatalf("edited and added tests, an edited shared/ file: outcome %s, why:\n%s", res.Outcome(), why)
	}
	if err := k.Record(res); err != nil || res.Recorded {
		t.Fatalf("a run with edited sealed files was recorded (%v)", err)
	}
}

func failingProbe(context.Context, string) (string, error) {
	return "", &amqp.Error{Code: amqp.AccessRefused, Reason: "ACCESS_REFUSED - username or password not allowed"}
}

func TestPreflightFailureStopsTheRunAsInfra(t *testing.T) {
	root := sealed(t)
	k := open(t, root, false)
	ok := func(context.Context, string) (string, error) { return "up", nil }
	start := time.Now()
	res := run(t, k, 1, RunOptions{Probes: &doctor.Probes{RabbitMQ: failingProbe, Postgres: ok}})
	if res.Outcome() != InfraDown || res.Report != nil || len(res.Infra) != 1 || !strings.Contains(res.Infra[0].String(), "INFRA: RabbitMQ") {
		t.Fatalf("wrong password: outcome %s, infra %+v, report %v", res.Outcome(), res.Infra, res.Report != nil)
	}
	if err := k.Record(res); err != nil || res.Recorded {
		t.Fatalf("an INFRA run was recorded (%v)", err)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Fatalf("the INFRA verdict took %s", took)
	}
}

func TestInfraReportedByATestIsInfra(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test")
	}
	root := kittest.New(t)
	kittest.Write(t, root, map[string]string{"labs/01-first/first_test.go": `package first

import "testing"

func TestFine(t *testing.T) {}

func TestLost(t *testing.T) {
	t.Fatal("INFRA: RabbitMQ, the connection was lost mid-run (the test did not cut it); fix: check the broker, then run again")
}
`})
	sealKit(t, root)
	k := open(t, root, false)
	res := run(t, k, 1, RunOptions{})
	if res.Outcome() != InfraDown || len(res.Infra) != 1 || !strings.HasPrefix(res.Infra[0].String(), "INFRA: RabbitMQ, the connection was lost") {
		t.Fatalf("mid-run INFRA: outcome %s, infra %+v", res.Outcome(), res.Infra)
	}
	if err := k.Record(res); err != nil || res.Recorded {
		t.Fatalf("an INFRA run was recorded (%v)", err)
	}
}

func TestCatchUpAppliesEarlierSolutionsAndRecordsThemCaughtUp(t *testing.T) {
	root := stepped(t)
	kittest.Commit(t, root)
	k := open(t, root, false)
	kittest.Write(t, root, map[string]string{"labs/01-first/work.go": "package first\n// my attempt\n"})
	record(t, k, "02-second", progress.Run{At: k.Now(), Passed: true, Steps: []bool{true}}) // solved by the mob
	kittest.Write(t, root, map[string]string{"labs/02-second/work.go": "package second\n// our own solution\n"})
	res, err := k.CatchUp(context.Background(), 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Applied) != 1 || res.Applied[0].Number != 1 || len(res.Kept) != 1 || res.Kept[0].Number != 2 {
		t.Fatalf("catch-up: applied %v, kept %v; want lab 1 applied, lab 2 (solved) kept", res.Applied, res.Kept)
	}
	if got := kittest.Read(t, root, res.Backup+"/01-first/work.go"); got != "package first\n// my attempt\n" {
		t.Fatalf("backup holds %q", got)
	}
	if got := kittest.Read(t, root, "labs/01-first/work.go"); got != kittest.Solved("first") {
		t.Fatalf("lab 1 after catch-up: %q", got)
	}
	if got := kittest.Read(t, root, "labs/02-second/work.go"); got != "package second\n// our own solution\n" {
		t.Fatalf("catch-up overwrote the mob's own solution: %q", got)
	}
	l := open(t, root, false).List()
	if !l[0].CaughtUp || l[0].Status != progress.Passed || l[1].CaughtUp || !l[2].Unlocked || l[2].Status != progress.Todo {
		t.Fatalf("after catch-up: %+v", l)
	}
	if got := kittest.Read(t, root, "labs/03-steps/work.go"); got != kittest.SteppedWork(false, false, false, false) {
		t.Fatal("catch-up touched the target lab")
	}
}

func TestSharedProgressTravelsWithTheMob(t *testing.T) {
	root := sealed(t)
	k := open(t, root, false)
	if _, err := k.Share(true); err != nil {
		t.Fatal(err)
	}
	record(t, k, "01-first", progress.Run{At: k.Now(), Passed: true})
	data, err := os.ReadFile(filepath.Join(root, progress.SharedFile))
	if err != nil || !strings.Contains(string(data), `"01-first"`) {
		t.Fatalf("shared file after a pass: %q, %v", data, err)
	}
	if _, err := os.Stat(filepath.Join(root, progress.SharedFile+".lock")); err == nil {
		t.Fatal("the shared file's lock sits in the work tree, where the mob would commit it")
	}
	// The next mob member's clone: their own .msglabs/ is empty, the committed file came with git.
	next := kittest.New(t)
	kittest.Write(t, next, map[string]string{progress.SharedFile: string(data)})
	sealKit(t, next)
	if l := open(t, next, false).List(); l[0].Status != progress.Passed || !l[1].Unlocked {
		t.Fatalf("the next member's list: %+v; want lab 1 passed, lab 2 unlocked", l)
	}
	if _, err := k.Share(false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, progress.SharedFile)); err == nil {
		t.Fatal("share off left the shared file")
	}
	if !open(t, root, false).Progress.Lab("01-first").Passed {
		t.Fatal("share off lost the progress")
	}
}

func TestFollowUpUnlocksWithTheSolution(t *testing.T) {
	root := stepped(t)
	k := open(t, root, false)
	var locked *LockedError
	if _, _, err := k.FollowUp(3); !errors.As(err, &locked) {
		t.Fatalf("follow-up before a pass: %v", err)
	}
	k.Instructor = true
	if text, rel, err := k.FollowUp(3); err != nil || rel != "labs/03-steps/FOLLOWUP.md" || !strings.Contains(text, "What just happened") {
		t.Fatalf("follow-up: %q %q %v", text, rel, err)
	}
	if text, _, err := k.FollowUp(1); err != nil || text != "" {
		t.Fatalf("lab without a follow-up: %q, %v; want none and no error", text, err)
	}
}
