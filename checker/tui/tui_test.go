package tui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"msglabs/checker/doctor"
	"msglabs/checker/gotest"
	"msglabs/checker/kit"
	"msglabs/checker/kittest"
	"msglabs/checker/lab"
	"msglabs/checker/mob"
	"msglabs/checker/progress"
	"msglabs/checker/seal"
	"msglabs/shared/infra"
)

func TestMain(m *testing.M) {
	lipgloss.SetColorProfile(termenv.Ascii)
	lipgloss.SetHasDarkBackground(true)
	os.Exit(m.Run())
}

// t0 is the fixed clock of every test.
var t0 = time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// sampleKit is kittest's two-lab kit, sealed, with a brief and slides for lab 1.
func sampleKit(t *testing.T) string {
	t.Helper()
	root := kittest.New(t)
	kittest.Write(t, root, map[string]string{
		"labs/01-first/README.md": "# Lab 1 · First lab\n\nAn order goes **missing**.\n\n## Your task\n\nMake `Fixed` return true.\n",
		"slides/01-first.md": "# First lab\n\nOrders vanish\n\nNote: tell the story of the lost order.\n\n---\n\n## The fix\n\n" +
			"- return true\n\nNote: live-code it.\n\n---\n\n## Recap\n\nDone.\n",
	})
	c, err := lab.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seal.Write(c); err != nil {
		t.Fatal(err)
	}
	return root
}

type fixture struct {
	m     *Model
	root  string
	clock *clock
	bell  *bytes.Buffer
}

func newFixture(t *testing.T, root string, instructor bool) *fixture {
	t.Helper()
	k, err := kit.Open(root, instructor)
	if err != nil {
		t.Fatal(err)
	}
	cl := &clock{t: t0}
	k.Now = cl.Now
	bell := &bytes.Buffer{}
	m := New(Options{
		Kit: k,
		// No services by default: a run that a test starts ends at once, without go test.
		Resolve: func(context.Context) (infra.Endpoints, error) {
			return infra.Endpoints{}, fmt.Errorf("%w: RabbitMQ is not reachable (test)", infra.ErrUnreachable)
		},
		Doctor: fakeDoctor(true),
		Getenv: func(string) string { return "" },
		Now:    cl.Now,
		Bell:   bell,
		Static: true,
		Width:  100,
		Height: 30,
	})
	return &fixture{m: m, root: root, clock: cl, bell: bell}
}

func fakeDoctor(ok bool) func(context.Context) []doctor.Check {
	return func(context.Context) []doctor.Check {
		mq := doctor.Check{Name: "RabbitMQ", OK: true, Required: true, Detail: "RabbitMQ 3.13.0"}
		if !ok {
			mq = doctor.Check{Name: "RabbitMQ", Required: true, Detail: "not reachable", Fix: "run `make up`, or set MSGLABS_AMQP_URL"}
		}
		return []doctor.Check{
			{Name: "Go", OK: true, Required: true, Detail: "go1.26"},
			mq,
			{Name: "PostgreSQL", OK: true, Required: true, Detail: "PostgreSQL 16"},
			{Name: "Docker", Detail: "not available"},
		}
	}
}

// keyMsg turns "r", "enter", "esc", "tab", "left", "right" into a key message.
func keyMsg(s string) tea.KeyMsg {
	switch s {
	case "enter":
		return tea.KeyMsg{Type: tea.KeyEnter}
	case "esc":
		return tea.KeyMsg{Type: tea.KeyEsc}
	case "tab":
		return tea.KeyMsg{Type: tea.KeyTab}
	case "left":
		return tea.KeyMsg{Type: tea.KeyLeft}
	case "right":
		return tea.KeyMsg{Type: tea.KeyRight}
	case "down":
		return tea.KeyMsg{Type: tea.KeyDown}
	case "ctrl+c":
		return tea.KeyMsg{Type: tea.KeyCtrlC}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)}
}

func (f *fixture) press(keys ...string) tea.Cmd {
	var cmd tea.Cmd
	for _, k := range keys {
		_, cmd = f.m.Update(keyMsg(k))
	}
	return cmd
}

func (f *fixture) send(msg tea.Msg) tea.Cmd {
	_, cmd := f.m.Update(msg)
	return cmd
}

func (f *fixture) view() string { return f.m.View() }

func wantIn(t *testing.T, view string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(view, s) {
			t.Fatalf("view lacks %q:\n%s", s, view)
		}
	}
}

func wantNotIn(t *testing.T, view string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if strings.Contains(view, s) {
			t.Fatalf("view has %q:\n%s", s, view)
		}
	}
}

// pump runs a command and feeds the messages it produces back into the model (batches included), up to depth.
func (f *fixture) pump(cmd tea.Cmd, depth int) {
	if cmd == nil || depth == 0 {
		return
	}
	msg := cmd()
	if batch, ok := msg.(tea.BatchMsg); ok {
		for _, c := range batch {
			f.pump(c, depth)
		}
		return
	}
	if msg == nil {
		return
	}
	f.pump(f.send(msg), depth-1)
}

func TestListShowsLabsStatusesAndDetail(t *testing.T) {
	f := newFixture(t, sampleKit(t), false)
	v := f.view()
	wantIn(t, v, "First lab", "○ todo", "Second: the sequel", "· locked", "0/2 passed", "failure mode: LOST",
		"An order goes missing.")
	if lines := strings.Split(v, "\n"); len(lines) != 30 {
		t.Fatalf("view is %d lines, want 30", len(lines))
	}
	f.press("j")
	wantIn(t, f.view(), "lab 2 · Second: the sequel", "locked: pass lab 1 first")
	f.press("k")
	wantIn(t, f.view(), "lab 1 · First lab")
}

func TestListFitsIn80x24(t *testing.T) {
	f := newFixture(t, sampleKit(t), false)
	f.send(tea.WindowSizeMsg{Width: 80, Height: 24})
	lines := strings.Split(f.view(), "\n")
	if len(lines) != 24 {
		t.Fatalf("%d lines", len(lines))
	}
	for _, l := range lines {
		if w := lipgloss.Width(l); w > 80 {
			t.Fatalf("line %q is %d wide", l, w)
		}
	}
}

func TestEnvironmentBarAfterFirstFrame(t *testing.T) {
	f := newFixture(t, sampleKit(t), false)
	cmd := f.m.Init()
	wantIn(t, f.view(), "checking RabbitMQ, PostgreSQL and Docker")
	f.pump(cmd, 1)
	wantIn(t, f.view(), "✓ RabbitMQ", "✓ PostgreSQL", "– Docker")

	f.m.c.opts.Doctor = fakeDoctor(false)
	f.pump(f.m.env.check(), 1)
	wantIn(t, f.view(), "✗ RabbitMQ", "fix: RabbitMQ: run `make up`")
}

func failedResult(l lab.Lab) *kit.RunResult {
	return &kit.RunResult{Lab: l, Kind: gotest.Failed, Recorded: true, Report: &gotest.Report{
		Elapsed: 1500 * time.Millisecond,
		Tests: []gotest.Result{
			{Name: "TestFine", Status: gotest.Pass, Elapsed: 10 * time.Millisecond},
			{Name: "TestLost", Status: gotest.Fail, Elapsed: 20 * time.Millisecond, Marker: "LOST",
				Headline: "order o-17 went wrong (1 placed, 0 billed)",
				Story:    "LOST: order o-17 went wrong (1 placed, 0 billed)\n\ntimeline:\n  +0.001s  orders  publish o-17"},
		},
	}}
}

func TestRunShowsLiveProgressThenTheStory(t *testing.T) {
	f := newFixture(t, sampleKit(t), false)
	cmd := f.press("r")
	if cmd == nil || f.m.screen != scrRun || !f.m.run.running {
		t.Fatalf("r did not start a run: screen %v running %v", f.m.screen, f.m.run.running)
	}
	gen := f.m.run.gen
	wantIn(t, f.view(), "lab 1 · First lab", "running go test 0ms")
	f.send(runEventMsg{gen: gen, ev: gotest.Event{Kind: gotest.TestStarted, Test: "TestLost"}})
	f.clock.Add(1200 * time.Millisecond)
	f.send(runTickMsg{gen: gen})
	wantIn(t, f.view(), "… TestLost  1.2s", "running go test 1.2s")
	res := &gotest.Result{Name: "TestFine", Status: gotest.Pass, Elapsed: 10 * time.Millisecond}
	f.send(runEventMsg{gen: gen, ev: gotest.Event{Kind: gotest.TestFinished, Test: "TestFine", Result: res}})
	wantIn(t, f.view(), "✓ TestFine  10ms")
	// A message of an older run is ignored.
	f.send(runDoneMsg{gen: gen - 1, err: errors.New("old")})
	if !f.m.run.running {
		t.Fatal("an old run's result ended the current run")
	}
	lab, _ := f.m.c.kit.Catalog.Lab(1)
	f.send(runDoneMsg{gen: gen, res: failedResult(lab)})
	v := f.view()
	wantIn(t, v, "✗ lab 1: 1 passed, 1 failed · 1.5s", "✗ TestLost", "LOST:", "order o-17 went wrong", "timeline:",
		"+0.001s  orders  publish o-17", "stuck? h gives a hint")
	wantNotIn(t, v, "running go test")
	f.press("esc")
	if f.m.screen != scrList {
		t.Fatal("esc did not go back to the list")
	}
	f.press("enter")
	if f.m.screen != scrRun || f.m.run.running {
		t.Fatal("enter on the lab just run should show its result, not run again")
	}
}

func TestRunBuildErrorPointsAtFileLine(t *testing.T) {
	f := newFixture(t, sampleKit(t), false)
	f.press("r")
	lab, _ := f.m.c.kit.Catalog.Lab(1)
	f.send(runDoneMsg{gen: f.m.run.gen, res: &kit.RunResult{Lab: lab, Kind: gotest.BuildError,
		Report: &gotest.Report{Build: []string{"labs/01-first/work.go:6:2: undefined: nope"}}}})
	wantIn(t, f.view(), "✗ lab 1 does not compile", "labs/01-first/work.go:6:2: undefined: nope")
}

func TestRunInfraErrorSaysHowToFix(t *testing.T) {
	f := newFixture(t, sampleKit(t), false)
	f.press("r")
	err := errors.Join(errors.New(infra.ErrUnreachable.Error() + ": RabbitMQ is not reachable at amqp://127.0.0.1:5672/; fix: run `make up`"))
	f.send(runDoneMsg{gen: f.m.run.gen, err: err})
	wantIn(t, f.view(), "RabbitMQ is not reachable", "make up")
}

// TestRunForReal runs the sample lab's tests with go test, through the commands the TUI returns.
func TestRunForReal(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test")
	}
	f := newFixture(t, sampleKit(t), false)
	f.m.c.opts.Resolve = func(context.Context) (infra.Endpoints, error) { return infra.Endpoints{}, nil }
	f.pump(f.press("r"), 100)
	v := f.view()
	wantIn(t, v, "✗ lab 1: 1 passed, 1 failed", "LOST:", "order o-17 went wrong")
	if st := f.m.c.kit.Progress.Lab("01-first"); st.LastRun != "fail" {
		t.Fatalf("progress not recorded: %+v", st)
	}
	kittest.Write(t, f.root, map[string]string{"labs/01-first/work.go": kittest.Solved("first")})
	f.pump(f.press("r"), 100)
	wantIn(t, f.view(), "✓ lab 1 passed", "unlocked: lab 2, solution 1")
	f.press("esc")
	wantIn(t, f.view(), "1/2 passed", "✓ passed", "○ todo")
	// The progress is the CLI's: the same file says so.
	k, _ := kit.Open(f.root, false)
	if li, _ := k.Info(2); !li.Unlocked {
		t.Fatal("lab 2 is not unlocked in the progress file")
	}
}

func TestHintsAreProgressiveAndShared(t *testing.T) {
	f := newFixture(t, sampleKit(t), false)
	f.press("h")
	wantIn(t, f.view(), "hint 1/2: Look at Fixed.")
	f.press("h")
	wantIn(t, f.view(), "hint 2/2: Return true.", "that was the last hint")
	k, _ := kit.Open(f.root, false)
	if n := k.Progress.Lab("01-first").HintsShown(); n != 2 {
		t.Fatalf("hints shown in the progress file = %d", n)
	}
	// A run in the background must not lose hints shown meanwhile.
	stale, _ := progress.Load(filepath.Join(f.root, filepath.FromSlash(progress.File)))
	f.m.c.adoptProgress(stale)
	if n := f.m.c.kit.Progress.Lab("01-first").HintsShown(); n != 2 {
		t.Fatalf("hints after adopting a run's progress = %d", n)
	}
}

func TestNextOnlyAfterAPass(t *testing.T) {
	f := newFixture(t, sampleKit(t), false)
	f.press("n")
	wantIn(t, f.view(), "n goes to the next lab once lab 1 passes")
	if f.m.list.cursor != 0 {
		t.Fatal("moved without a pass")
	}
	if err := f.m.c.kit.Progress.Update(func(st *progress.State) {
		st.Record("01-first", progress.Run{At: t0, Passed: true})
	}); err != nil {
		t.Fatal(err)
	}
	f.pump(f.press("n"), 2)
	if f.m.list.cursor != 1 || f.m.screen != scrDoc || f.m.doc.lab.Number != 2 {
		t.Fatalf("n after a pass: cursor %d screen %v doc lab %d", f.m.list.cursor, f.m.screen, f.m.doc.lab.Number)
	}
}

func TestSolutionLockedThenDiff(t *testing.T) {
	f := newFixture(t, sampleKit(t), false)
	f.press("s")
	wantIn(t, f.view(), "solution 1 is locked", "pass lab 1 first")

	f = newFixture(t, sampleKit(t), true)
	f.press("s")
	v := f.view()
	wantIn(t, v, "--- a/labs/01-first/work.go", "+++ b/solutions/01-first/work.go", "-    // TODO(lab): fix it.",
		"-    return false", "+    return true")
	f.press("tab")
	wantIn(t, f.view(), "==> solutions/01-first/work.go <==", "return true")
	f.press("esc")
	if f.m.screen != scrList {
		t.Fatal("esc did not go back")
	}
}

func TestResetAsksAndBacksUp(t *testing.T) {
	root := sampleKit(t)
	kittest.Commit(t, root)
	f := newFixture(t, root, false)
	kittest.Write(t, root, map[string]string{"labs/01-first/work.go": "package first\n\nfunc Fixed() bool { return 1 == 1 }\n"})
	f.press("x")
	wantIn(t, f.view(), "Reset lab 1 to its starter?", ".msglabs/backup/")
	f.press("n")
	if f.m.confirm != nil {
		t.Fatal("n did not close the dialog")
	}
	f.press("x")
	f.pump(f.press("y"), 1)
	wantIn(t, f.view(), "restored the starter of lab 1; your files are in .msglabs/backup/")
	if got := kittest.Read(t, root, "labs/01-first/work.go"); got != kittest.Starter("first") {
		t.Fatalf("work.go after reset:\n%s", got)
	}
	backups, _ := filepath.Glob(filepath.Join(root, ".msglabs", "backup", "*", "01-first", "work.go"))
	if len(backups) != 1 {
		t.Fatalf("backups: %v", backups)
	}
}

func TestApplySolutionIsForInstructors(t *testing.T) {
	f := newFixture(t, sampleKit(t), false)
	f.press("a")
	if f.m.confirm != nil {
		t.Fatal("attendee got the apply dialog")
	}
	wantIn(t, f.view(), "apply solution is for instructors")

	f = newFixture(t, sampleKit(t), true)
	f.press("a")
	wantIn(t, f.view(), "Apply the reference solution of lab 1?", "backed up first")
	f.pump(f.press("y"), 1)
	wantIn(t, f.view(), "wrote the solution of lab 1")
	if got := kittest.Read(t, f.root, "labs/01-first/work.go"); got != kittest.Solved("first") {
		t.Fatalf("work.go after apply:\n%s", got)
	}
}

func TestBriefAndSlides(t *testing.T) {
	f := newFixture(t, sampleKit(t), true)
	f.pump(f.press("b"), 1)
	wantIn(t, f.view(), "brief", "Your task", "Make Fixed return true")
	f.pump(f.press("v"), 1)
	wantIn(t, f.view(), "slides 1/3", "Orders vanish")
	wantNotIn(t, f.view(), "tell the story")
	f.press("right")
	wantIn(t, f.view(), "slides 2/3", "The fix")
	f.press("P")
	wantIn(t, f.view(), "presenter view", "notes", "live-code it.", "next: Recap")
	f.press("right", "right")
	wantIn(t, f.view(), "slides 3/3", "next: (last slide)")
	f.press("left")
	wantIn(t, f.view(), "slides 2/3")
	f.press("esc")
	if f.m.screen != scrList {
		t.Fatal("esc did not go back")
	}
	// Lab 2 has neither brief nor slides.
	f.press("j")
	f.pump(f.press("b"), 1)
	wantIn(t, f.view(), "this lab has no README.md yet")
}

func TestPresenterViewIsForInstructors(t *testing.T) {
	f := newFixture(t, sampleKit(t), false)
	f.pump(f.press("v"), 1)
	f.press("P")
	wantIn(t, f.view(), "presenter view is for instructors")
	wantNotIn(t, f.view(), "live-code")
}

func TestParseSlides(t *testing.T) {
	s := ParseSlides("# One\n\nbody\n\nNote: say this\nand that\n\n---\n\n## Two\n\n---\n\nthree\n")
	if len(s) != 3 || s[0].Title != "One" || s[0].Notes != "say this\nand that" || strings.Contains(s[0].Body, "say") ||
		s[1].Title != "Two" || s[1].Notes != "" || s[2].Title != "three" {
		t.Fatalf("slides: %+v", s)
	}
}

func TestMobTimerRotatesAndSurvivesRestart(t *testing.T) {
	root := sampleKit(t)
	f := newFixture(t, root, false)
	f.press("m")
	if f.m.screen != scrMob || !f.m.mob.editing() {
		t.Fatal("m did not open the mob form")
	}
	for _, r := range "ann bob cem q" { // q is a letter here, not quit
		f.send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
	}
	f.press("tab", "5")
	f.press("enter")
	v := f.view()
	wantIn(t, v, "driver     ann", "navigator  bob", "5:00 left", "[mob: ann drives 5:00]", "[ann] → bob → cem → q")
	f.clock.Add(5*time.Minute + time.Second)
	f.pump(f.send(mobTickMsg{}), 1)
	v = f.view()
	wantIn(t, v, "ROTATE: bob drives now, cem navigates", "driver     bob", "4:59 left")
	if f.bell.String() != "\a" {
		t.Fatalf("bell = %q", f.bell.String())
	}
	if _, ok := mob.Load(filepath.Join(root, ".msglabs", "mob.json")); !ok {
		t.Fatal("mob.json not written")
	}
	// A restart finds the rotation where it is.
	g := newFixture(t, root, false)
	g.clock.Add(6 * time.Minute)
	wantIn(t, g.view(), "[mob: bob drives 4:00]")
	g.press("m")
	g.press("enter") // rotate now
	wantIn(t, g.view(), "driver     cem")
	g.press("e")
	if g.m.mob.active || g.m.screen != scrList {
		t.Fatal("e did not end the mob")
	}
	if _, ok := mob.Load(filepath.Join(root, ".msglabs", "mob.json")); ok {
		t.Fatal("mob.json still there")
	}
}

func TestHelpView(t *testing.T) {
	f := newFixture(t, sampleKit(t), false)
	f.press("?")
	wantIn(t, f.view(), "keys", "r run", "w watch", "presenter view", "apply solution", "mob")
	f.press("j")
	if f.m.showHelp {
		t.Fatal("a key did not close help")
	}
}

func TestQuitStopsRunAndWatch(t *testing.T) {
	f := newFixture(t, sampleKit(t), false)
	f.press("w")
	if !f.m.run.watching() {
		t.Fatal("w did not start watching")
	}
	wantIn(t, f.view(), "[watching labs/01-first")
	cmd := f.press("q")
	if cmd == nil {
		t.Fatal("q returned no command")
	}
	if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Fatal("q did not quit")
	}
	if f.m.run.watching() || f.m.run.running {
		t.Fatal("quit left the watcher or the run going")
	}
}

func TestWatchTogglesAndRerunsOnSave(t *testing.T) {
	f := newFixture(t, sampleKit(t), false)
	f.press("w")
	first := f.m.run.gen
	f.send(runDoneMsg{gen: first, res: failedResult(mustLab(t, f.m, 1))})
	// A save: the watcher's message starts a new run by the watch.
	f.send(watchMsg{gen: f.m.run.watchGen})
	if !f.m.run.running || f.m.run.gen != first+1 || f.m.run.by != "watch" {
		t.Fatalf("save did not re-run: running %v gen %d by %q", f.m.run.running, f.m.run.gen, f.m.run.by)
	}
	wantIn(t, f.view(), "started by a save")
	// A save during a run queues one more run.
	f.send(watchMsg{gen: f.m.run.watchGen})
	if !f.m.run.pending {
		t.Fatal("save during a run was not queued")
	}
	f.send(runDoneMsg{gen: f.m.run.gen, res: failedResult(mustLab(t, f.m, 1))})
	if !f.m.run.running || f.m.run.gen != first+2 {
		t.Fatal("queued run did not start")
	}
	f.press("w")
	if f.m.run.watching() {
		t.Fatal("w did not stop watching")
	}
	f.m.Close()
}

func mustLab(t *testing.T, m *Model, n int) lab.Lab {
	t.Helper()
	l, err := m.c.kit.Catalog.Lab(n)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestGlamourStyle(t *testing.T) {
	if s := glamourStyle(func(k string) string {
		if k == "NO_COLOR" {
			return "1"
		}
		return ""
	}); s != "notty" {
		t.Fatalf("NO_COLOR style = %s", s)
	}
}
