package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/checker/kittest"
	"msglabs/checker/progress"
)

func steppedKit(t *testing.T) string {
	t.Helper()
	root := kittest.NewStepped(t)
	sealKit(t, root)
	return root
}

func writeSteps(t *testing.T, root string, first, second, careless, sturdy bool) {
	t.Helper()
	kittest.Write(t, root, map[string]string{"labs/03-steps/work.go": kittest.SteppedWork(first, second, careless, sturdy)})
}

func wantAll(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Fatalf("output lacks %q:\n%s", w, out)
		}
	}
}

func wantNone(t *testing.T, out string, unwanted ...string) {
	t.Helper()
	for _, w := range unwanted {
		if strings.Contains(out, w) {
			t.Fatalf("output has %q:\n%s", w, out)
		}
	}
}

// summary is what follows the live rows: the report, from the blank line on.
func summary(out string) string {
	_, after, _ := strings.Cut(out, "\n\n")
	return after
}

func TestRunPresentsTheFirstFailingStepFirst(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test")
	}
	root := steppedKit(t)
	ta := newTestApp(t, root)
	out := summary(ta.expect(t, exitFailing, "--instructor", "run", "3"))
	wantAll(t, out, "step 1 of 2: the first concept\n  First must say true\n  ✗ TestFirst",
		"      LOST: order o-1 was never billed", "✗ step 2 of 2: the second concept · TestSecond (STALLED)",
		"✗ lab 3: step 1 of 2 failing · 1 passed, 2 failed", "stuck? `bin/checker hint 3` gives a hint for step 1")
	if strings.Index(out, "step 1 of 2") > strings.Index(out, "step 2 of 2") {
		t.Fatalf("step 2 comes before step 1:\n%s", out)
	}
	wantNone(t, out, "STALLED: order o-3 waited forever") // a later step's story waits its turn

	writeSteps(t, root, true, false, false, false)
	out = summary(ta.expect(t, exitFailing, "--instructor", "run", "3"))
	wantAll(t, out, "✓ step 1 of 2: the first concept\nstep 2 of 2: the second concept", "STALLED: order o-3 waited forever",
		"step 2 of 2 failing", "gives a hint for step 2")
	if hint := ta.expect(t, exitOK, "hint", "3"); !strings.Contains(hint, "step 2 of 2 (the second concept), hint 1/3: Two: think about it.") {
		t.Fatalf("hint after step 1 passed:\n%s", hint)
	}
}

func TestChaosStageGatesThePassAndReplays(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test")
	}
	root := steppedKit(t)
	ta := newTestApp(t, root)
	writeSteps(t, root, true, true, false, false)
	out := summary(ta.expect(t, exitFailing, "--instructor", "run", "3"))
	wantAll(t, out, "✓ step 1 of 2", "✓ step 2 of 2", "chaos stage: 3 fault schedules from the lab's default seed against your code",
		"✗ TestChaos", "LOST: under schedule 7, order o-9 was never billed", "replay: bin/checker chaos 3 --seed 7",
		"this looks like a known wrong fix, fragile: it works until a process crashes",
		"✗ lab 3: every step's tests pass, but the chaos stage does not")
	wantNone(t, out, "✓ lab 3 passed", "unlocked")
	if list := ta.expect(t, exitOK, "--instructor", "list"); !strings.Contains(list, "Third, in steps     ✗ failing  2/2") {
		t.Fatalf("list after a chaos failure (want lab 3 failing with both steps passing):\n%s", list)
	}

	writeSteps(t, root, true, true, false, true)
	out = ta.expect(t, exitOK, "--instructor", "chaos", "3", "--seed", "42", "--runs", "2")
	wantAll(t, out, "✓ chaos stage: 2 fault schedules from seed 42 against your code", "✓ lab 3: the chaos stage passed",
		"`bin/checker run 3` runs the tests and the chaos stage together")
	out = ta.expect(t, exitOK, "--instructor", "run", "3")
	wantAll(t, out, "✓ lab 3 passed · 2 steps · 3 tests · chaos 3 schedules", "`bin/checker solution 3` shows the reference solution and the follow-up")
	ta.expect(t, exitEnv, "chaos", "1")
	if !strings.Contains(ta.errOut.String(), "lab 1 has no chaos stage") {
		t.Fatalf("chaos of a lab without one: %q", ta.errOut)
	}
	ta.expect(t, exitEnv, "chaos", "3", "--seed", "x1")
}

func TestNamedMistakeIsNamedWithItsHint(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test")
	}
	root := steppedKit(t)
	ta := newTestApp(t, root)
	writeSteps(t, root, true, false, true, false)
	out := summary(ta.expect(t, exitFailing, "--instructor", "run", "3"))
	wantAll(t, out, "step 1 of 2: the first concept", "DUPLICATE: order o-2 was billed twice",
		"this looks like a known wrong fix, bill-twice: billing on every delivery charges a redelivered order twice",
		"it is step 1's concept: `bin/checker hint 3 --step 1` gives its next hint")
}

func TestInfraExitsTwoAndRecordsNothing(t *testing.T) {
	root := steppedKit(t)
	ta := newTestApp(t, root)
	ta.probes.RabbitMQ = func(context.Context, string) (string, error) {
		return "", &amqp.Error{Code: amqp.AccessRefused, Reason: "ACCESS_REFUSED - username or password not allowed"}
	}
	out := ta.expect(t, exitEnv, "run", "1")
	wantAll(t, out, `INFRA: RabbitMQ at amqp://guest:***@127.0.0.1:5672/ refused the login of user "guest" (ACCESS_REFUSED`,
		"fix: put the room's user and password in MSGLABS_AMQP_URL", "could not run: a service failed, not your code; nothing was recorded",
		"`bin/checker doctor` checks the services")
	wantNone(t, out, "stuck?", "hunter2", "✗ lab 1: ")
	if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(progress.File))); err == nil {
		t.Fatal("an INFRA run wrote the progress")
	}
}

func TestNotCountedExitsThreeAndNeverSaysPassed(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test")
	}
	root := sealedKit(t)
	ta := newTestApp(t, root)
	kittest.Write(t, root, map[string]string{
		"labs/01-first/work.go":       kittest.Solved("first"),
		"labs/01-first/first_test.go": "package first\n\nimport \"testing\"\n\nfunc TestFine(t *testing.T) {}\n\nfunc TestLost(t *testing.T) {}\n",
	})
	out := summary(ta.expect(t, exitNotCounted, "run", "1"))
	wantAll(t, out, "not counted: this run cannot say whether the lab passes",
		"labs/01-first/first_test.go differs from the shipped file (fix: git checkout -- labs/01-first/first_test.go)",
		"✗ lab 1: not counted; nothing was recorded")
	wantNone(t, out, "✓ lab 1 passed", "unlocked")
	if out := ta.expect(t, exitOK, "list", "--json"); strings.Contains(out, `"status": "passed"`) {
		t.Fatalf("a not-counted run was recorded:\n%s", out)
	}
}

func TestPrintedCommandsRunWhereTheyArePrinted(t *testing.T) {
	root := kittest.New(t)
	ta := newTestApp(t, root)
	if got := ta.checkerCmd(root); got != "bin/checker" {
		t.Fatalf("at the kit root: %q", got)
	}
	ta.dir = filepath.Join(root, "labs", "01-first")
	got := ta.checkerCmd(root)
	if got != "../../bin/checker" || filepath.Join(ta.dir, filepath.FromSlash(got)) != filepath.Join(root, "bin", "checker") {
		t.Fatalf("in a lab folder: %q, which is not the kit's bin/checker from there", got)
	}
	out := ta.expect(t, exitOK, "hint", "1")
	wantAll(t, out, "(`../../bin/checker hint 1` again for the next one)")
}

func TestCatchUpStartsTheMobAtTheLab(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test")
	}
	root := steppedKit(t)
	kittest.Commit(t, root)
	ta := newTestApp(t, root)
	out := ta.expect(t, exitOK, "catch-up", "3")
	wantAll(t, out, "backed up your files of labs 1, 2 to .msglabs/backup/",
		"wrote the reference solutions of labs 1, 2 and recorded them as passed (caught up, not solved)",
		"lab 3 is where you start: `bin/checker run 3`")
	var doc struct {
		Labs []struct {
			Number   int
			Status   string
			CaughtUp bool `json:"caught_up"`
			Unlocked bool
		}
	}
	if err := json.Unmarshal([]byte(ta.expect(t, exitOK, "list", "--json")), &doc); err != nil {
		t.Fatal(err)
	}
	for _, l := range doc.Labs[:2] {
		if l.Status != "passed" || !l.CaughtUp {
			t.Fatalf("lab %d after catch-up 3: %+v; want passed, caught up", l.Number, l)
		}
	}
	if l := doc.Labs[2]; l.Status != "todo" || !l.Unlocked || l.CaughtUp {
		t.Fatalf("lab 3 after catch-up 3: %+v; want todo and unlocked", l)
	}
	backups, _ := filepath.Glob(filepath.Join(root, ".msglabs", "backup", "*", "01-first", "work.go"))
	if len(backups) != 1 {
		t.Fatalf("backups of lab 1: %v", backups)
	}
	out = summary(ta.expect(t, exitFailing, "run", "3"))
	wantAll(t, out, "LOST: order o-1 was never billed") // lab 3's own first marker
	if list := ta.expect(t, exitOK, "list"); !strings.Contains(list, "passed (caught up)") {
		t.Fatalf("list:\n%s", list)
	}
}

func TestShareKeepsProgressInTheCommittedFile(t *testing.T) {
	root := sealedKit(t)
	ta := newTestApp(t, root)
	out := ta.expect(t, exitOK, "share")
	wantAll(t, out, "your progress is now kept in mob-progress.json too")
	ta.expect(t, exitOK, "hint", "1")
	data, err := os.ReadFile(filepath.Join(root, progress.SharedFile))
	if err != nil || !strings.Contains(string(data), `"hints_shown": 1`) {
		t.Fatalf("shared file after a hint: %s, %v", data, err)
	}
	out = ta.expect(t, exitOK, "share", "--off")
	wantAll(t, out, "stopped sharing: removed mob-progress.json")
}

func TestListJSONShowsSteps(t *testing.T) {
	root := steppedKit(t)
	ta := newTestApp(t, root)
	ta.expect(t, exitOK, "hint", "3", "--instructor")
	var doc struct {
		Labs []struct {
			Number      int
			CurrentStep int        `json:"current_step"`
			StartedAt   *time.Time `json:"started_at"`
			Steps       []struct {
				Number     int
				Title      string
				Status     string
				Tests      int
				Hints      int
				HintsShown int `json:"hints_shown"`
			}
			Chaos *struct{ Runs int }
		}
	}
	if err := json.Unmarshal([]byte(ta.expect(t, exitOK, "--instructor", "list", "--json")), &doc); err != nil {
		t.Fatal(err)
	}
	l := doc.Labs[2]
	if len(l.Steps) != 2 || l.Steps[1].Title != "the second concept" || l.Steps[0].Tests != 2 || l.Steps[1].Hints != 3 ||
		l.Steps[0].HintsShown != 1 || l.Steps[0].Status != "todo" || l.CurrentStep != 1 || l.Chaos == nil || l.Chaos.Runs != 3 || l.StartedAt == nil {
		t.Fatalf("lab 3 in list --json: %+v", l)
	}
}

func TestSolutionShowsTheFollowUp(t *testing.T) {
	root := steppedKit(t)
	ta := newTestApp(t, root)
	out := ta.expect(t, exitOK, "--instructor", "solution", "3")
	wantAll(t, out, "==> solutions/03-steps/work.go <==", "==> labs/03-steps/FOLLOWUP.md <==\n# After lab 3")
	out = ta.expect(t, exitOK, "--instructor", "solution", "1")
	wantNone(t, out, "FOLLOWUP")
}

func TestRunSweepsThisOwnersLeftoversBesideTheRun(t *testing.T) {
	root := steppedKit(t)
	ta := newTestApp(t, root)
	f := ta.fakeLeftovers()
	ta.env[EnvOwner] = "ab12cd"
	ta.probes.Postgres = func(context.Context, string) (string, error) { return "", errors.New("connection refused") }
	ta.expect(t, exitEnv, "run", "1") // INFRA from the preflight; the sweep ran all the same
	if len(f.swept) != 1 || f.swept[0] != "ab12cd" {
		t.Fatalf("sweeps at start: %v, want one of owner ab12cd", f.swept)
	}
}

func TestTwoCheckersRecordingAtOnceLoseNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test")
	}
	root := sealedKit(t)
	kittest.Write(t, root, map[string]string{
		"labs/01-first/work.go":  kittest.Solved("first"),
		"labs/02-second/work.go": kittest.Solved("second"),
	})
	// Two checkers on one working copy, as the TUI and `make lab-N` in two terminals: each loaded the progress
	// before the other saved.
	a, b := newTestApp(t, root), newTestApp(t, root)
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i, ta := range []*testApp{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i] = ta.main([]string{"--instructor", "run", strconv.Itoa(i + 1)})
		}()
	}
	wg.Wait()
	if codes[0] != exitOK || codes[1] != exitOK {
		t.Fatalf("exit codes %v\n%s\n%s", codes, a.out, b.out)
	}
	ta := newTestApp(t, root)
	var doc struct{ Labs []struct{ Status string } }
	if err := json.Unmarshal([]byte(ta.expect(t, exitOK, "list", "--json")), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Labs[0].Status != "passed" || doc.Labs[1].Status != "passed" {
		t.Fatalf("after two checkers passed labs 1 and 2 at once: %+v", doc.Labs)
	}
}

func TestInterruptStopsTheTestsAndRecordsNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test")
	}
	root := kittest.New(t)
	started := filepath.Join(t.TempDir(), "started")
	kittest.Write(t, root, map[string]string{"labs/01-first/first_test.go": `package first

import (
	"os"
	"strconv"
	"testing"
)

func TestFine(t *testing.T) {}

func TestLost(t *testing.T) {
	os.WriteFile(` + strconv.Quote(started) + `, []byte(strconv.Itoa(os.Getpid())), 0o644)
	select {} // a handler that never returns
}
`})
	sealKit(t, root)
	ta := newTestApp(t, root)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- ta.cmdRun(ctx, []string{"1"}) }()
	pid := waitForFile(t, started, 60*time.Second)
	cancel()
	select {
	case code := <-done:
		if code != exitEnv || !strings.Contains(ta.errOut.String(), "interrupted; the tests were stopped and nothing was recorded") {
			t.Fatalf("interrupted run: exit %d, stderr %q", code, ta.errOut)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the interrupted run did not return within 30s")
	}
	if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(progress.File))); err == nil {
		t.Fatal("an interrupted run wrote the progress")
	}
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("the test process %d outlived the interrupted checker by 10s", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitForFile waits (bounded) for a test binary to write its pid into path.
func waitForFile(t *testing.T, path string, bound time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		if data, err := os.ReadFile(path); err == nil && len(data) > 0 {
			pid, err := strconv.Atoi(string(data))
			if err != nil {
				t.Fatalf("pid file %s: %v", path, err)
			}
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("the test binary did not start within %s", bound)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
