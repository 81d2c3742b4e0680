package tui

import (
	"bytes"
	"context"
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

// The tests drive the root model through Update, the way bubbletea does, with ASCII colours, a dark background and
// a fixed clock, and look at View. Nothing ticks (Options.Static): a test sends the tick messages itself.

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
		"slides/01-first.md": "# First lab\n\n*10 minutes*\n\nOrders vanish\n\nNote: tell the story of the lost order.\n\n---\n\n## The fix\n\n" +
			"- return true\n\nNote: live-code it.\n\n---\n\n## Recap\n\nDone.\n\nNote: ask who got it.\n",
	})
	sealKit(t, root)
	return root
}

// steppedKit is kittest's kit with lab 3 in two steps, with a chaos stage, named mistakes and a follow-up.
func steppedKit(t *testing.T) string {
	t.Helper()
	root := kittest.NewStepped(t)
	sealKit(t, root)
	return root
}

func sealKit(t *testing.T, root string) {
	t.Helper()
	c, err := lab.Load(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := seal.Write(c); err != nil {
		t.Fatal(err)
	}
}

type fixture struct {
	m     *Model
	root  string
	clock *clock
	bell  *bytes.Buffer
}

func newFixture(t *testing.T, root string, instructor bool) *fixture {
	t.Helper()
	return newSizedFixture(t, root, instructor, 100, 30)
}

func newSizedFixture(t *testing.T, root string, instructor bool, w, h int) *fixture {
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
			return infra.Endpoints{}, fmt.Errorf("%w: RabbitMQ is not reachable (test); fix: run `make up`", infra.ErrUnreachable)
		},
		Doctor: fakeDoctor(true),
		Getenv: func(string) string { return "" },
		Now:    cl.Now,
		Bell:   bell,
		Static: true,
		Width:  w,
		Height: h,
	})
	t.Cleanup(m.Close)
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

// keyMsg turns "r", "enter", "esc", "tab", "left", "right", "down", "pgdown", "ctrl+c" into a key message.
func keyMsg(s string) tea.KeyMsg {
	special := map[string]tea.KeyType{"enter": tea.KeyEnter, "esc": tea.KeyEsc, "tab": tea.KeyTab, "left": tea.KeyLeft,
		"right": tea.KeyRight, "down": tea.KeyDown, "up": tea.KeyUp, "pgdown": tea.KeyPgDown, "ctrl+c": tea.KeyCtrlC,
		"backspace": tea.KeyBackspace}
	if t, ok := special[s]; ok {
		return tea.KeyMsg{Type: t}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)}
}

// press sends keys and feeds the commands they return back in (the root's own messages: screen changes, flashes,
// dialogs), as the program would.
func (f *fixture) press(keys ...string) {
	for _, k := range keys {
		f.pump(f.send(keyMsg(k)), 3)
	}
}

// once sends the message cmd returns, without running the commands that come back.
func (f *fixture) once(cmd tea.Cmd) {
	if cmd != nil {
		f.send(cmd())
	}
}

// pressOnly sends one key and returns its command without running it.
func (f *fixture) pressOnly(k string) tea.Cmd { return f.send(keyMsg(k)) }

func (f *fixture) send(msg tea.Msg) tea.Cmd {
	_, cmd := f.m.Update(msg)
	return cmd
}

func (f *fixture) view() string { return f.m.View() }

func wantIn(t *testing.T, view string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(view, s) {
			t.Fatalf("the view lacks %q:\n%s", s, view)
		}
	}
}

func wantNotIn(t *testing.T, view string, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if strings.Contains(view, s) {
			t.Fatalf("the view has %q, which it must not:\n%s", s, view)
		}
	}
}

// pump runs a command and feeds the messages it produces back into the model (batches included), up to depth
// levels of commands. Commands that wait (a run's next event, a watcher) are the tests' to drive, so only messages
// that arrive within a moment are fed.
func (f *fixture) pump(cmd tea.Cmd, depth int) {
	if cmd == nil || depth == 0 {
		return
	}
	msg, ok := within(cmd, 5*time.Second)
	if !ok {
		return
	}
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

// within runs cmd and returns its message, or false when it has none within d.
func within(cmd tea.Cmd, d time.Duration) (tea.Msg, bool) {
	ch := make(chan tea.Msg, 1)
	go func() { ch <- cmd() }()
	select {
	case msg := <-ch:
		return msg, true
	case <-time.After(d):
		return nil, false
	}
}

func (f *fixture) screen() screenID { return f.m.current() }

func (f *fixture) list() *listModel { return f.m.screens[scrList].(*listModel) }

func mustLab(t *testing.T, m *Model, n int) lab.Lab {
	t.Helper()
	l, err := m.c.kit.Catalog.Lab(n)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// judged is a run result of lab l with these tests, sorted into steps the way kit.Run does.
func judged(l lab.Lab, elapsed time.Duration, tests ...gotest.Result) *kit.RunResult {
	rep := &gotest.Report{Tests: tests, Elapsed: elapsed}
	res := &kit.RunResult{Lab: l, Report: rep, Kind: rep.Kind()}
	for i, s := range l.Steps {
		sr := kit.StepResult{Number: i + 1, Step: s, Passed: true}
		for _, name := range s.Tests() {
			t, ok := rep.Test(name)
			if !ok {
				sr.NotRun, sr.Passed = append(sr.NotRun, name), false
				continue
			}
			sr.Tests = append(sr.Tests, t)
			sr.Passed = sr.Passed && t.Status == gotest.Pass
		}
		if !sr.Passed && res.Current == 0 {
			res.Current = sr.Number
		}
		res.Steps = append(res.Steps, sr)
	}
	return res
}

func pass(name string) gotest.Result {
	return gotest.Result{Name: name, Status: gotest.Pass, Elapsed: 10 * time.Millisecond}
}

func fail(name, marker, headline string) gotest.Result {
	return gotest.Result{Name: name, Status: gotest.Fail, Elapsed: 20 * time.Millisecond, Marker: marker, Headline: headline,
		Story: marker + ": " + headline + "\n\ntimeline:\n  +0.001s  orders  publish o-17"}
}

// failedResult is lab 1 failing: TestFine passes, TestLost fails with LOST.
func failedResult(l lab.Lab) *kit.RunResult {
	return judged(l, 1500*time.Millisecond, pass("TestFine"), fail("TestLost", "LOST", "order o-17 went wrong (1 placed, 0 billed)"))
}

func TestListShowsLabsStatusesStepsAndDetail(t *testing.T) {
	f := newFixture(t, sampleKit(t), false)
	v := f.view()
	wantIn(t, v, "First lab", "○ todo", "Second: the sequel", "· locked", "0/2 passed", "failure mode: LOST",
		"An order goes missing.", "[○]  step 1 of 1: the order arrives", "hints 0/2 shown for step 1")
	if lines := strings.Split(v, "\n"); len(lines) != 30 {
		t.Fatalf("the view is %d lines, want 30", len(lines))
	}
	f.press("j")
	wantIn(t, f.view(), "lab 2 · Second: the sequel", "locked: pass lab 1 first")
	f.press("k")
	wantIn(t, f.view(), "lab 1 · First lab")
}

func TestEveryScreenFitsIn80x24(t *testing.T) {
	f := newSizedFixture(t, steppedKit(t), true, 80, 24)
	check := func(what string) {
		t.Helper()
		lines := strings.Split(f.view(), "\n")
		if len(lines) != 24 {
			t.Fatalf("%s: %d lines, want 24", what, len(lines))
		}
		for _, l := range lines {
			if w := lipgloss.Width(l); w > 80 {
				t.Fatalf("%s: line %q is %d cells wide, more than the terminal's 80", what, l, w)
			}
		}
	}
	check("list")
	f.send(selectLabMsg{lab: 3})
	f.startRun(3)
	f.send(runDoneMsg{gen: f.m.run.gen, res: judged(mustLab(t, f.m, 3), time.Second,
		fail("TestFirst", "LOST", strings.Repeat("a very long headline that must wrap ", 6)), pass("TestGuard"), pass("TestSecond"))})
	check("run")
	f.press("s")
	check("solution")
	f.press("esc", "b")
	check("brief")
	f.press("esc", "L")
	check("lectures")
	f.press("esc", "m")
	check("mob form")
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

// TestBackReturnsWhereYouCameFrom: esc goes back to the screen before, whichever it was (a screen already on the
// way back is returned to, not stacked twice).
func TestBackReturnsWhereYouCameFrom(t *testing.T) {
	f := newFixture(t, sampleKit(t), true)
	f.press("b")
	if f.screen() != scrDoc {
		t.Fatalf("b shows screen %d, want the brief", f.screen())
	}
	f.press("esc")
	if f.screen() != scrList {
		t.Fatalf("esc from a brief opened on the list shows screen %d, want the list", f.screen())
	}
	f.startRun(1)
	f.send(runDoneMsg{gen: f.m.run.gen, res: failedResult(mustLab(t, f.m, 1))})
	f.press("b")
	f.press("esc")
	if f.screen() != scrRun {
		t.Fatalf("esc from a brief opened on the run shows screen %d, want the run", f.screen())
	}
	f.press("s", "r")
	if f.screen() != scrRun || len(f.m.stack) != 2 {
		t.Fatalf("r on the solution: screen %d, stack %v; want the run once, over the list", f.screen(), f.m.stack)
	}
	f.press("esc")
	if f.screen() != scrList {
		t.Fatalf("esc from the run shows screen %d, want the list", f.screen())
	}
	f.press("esc")
	if f.screen() != scrList {
		t.Fatal("esc on the list left it")
	}
}

func TestHintsAreProgressivePerStepAndShared(t *testing.T) {
	f := newFixture(t, sampleKit(t), false)
	f.press("h")
	wantIn(t, f.view(), "step 1 of 1: the order arrives, hint 1/2: Look at Fixed.")
	f.press("h")
	wantIn(t, f.view(), "hint 2/2: Return true.", "that was the last hint of this step")
	k, _ := kit.Open(f.root, false)
	if n := k.Progress.Lab("01-first").HintsShown(); n != 2 {
		t.Fatalf("hints shown in the progress file = %d, want 2", n)
	}
	// The list's detail shows the last hint; the run screen all the step's hints so far.
	wantIn(t, f.view(), "hints 2/2 shown for step 1")
	f.startRun(1)
	v := f.view()
	wantIn(t, v, "hint 1/2: Look at Fixed.", "hint 2/2: Return true.")
}

func TestNextOnlyAfterAPass(t *testing.T) {
	f := newFixture(t, sampleKit(t), false)
	f.press("n")
	wantIn(t, f.view(), "n goes to the next lab once lab 1 passes")
	if f.list().cursor != 0 {
		t.Fatal("n moved the cursor without a pass")
	}
	if err := f.m.c.kit.Progress.Update(func(st *progress.State) {
		st.Record("01-first", progress.Run{At: t0, Passed: true, Steps: []bool{true}})
	}); err != nil {
		t.Fatal(err)
	}
	f.press("n")
	doc := f.m.screens[scrDoc].(*docModel)
	if f.list().cursor != 1 || f.screen() != scrDoc || doc.lab.Number != 2 {
		t.Fatalf("n after a pass: cursor %d, screen %d, brief of lab %d; want lab 2's brief", f.list().cursor, f.screen(), doc.lab.Number)
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
	if f.m.dialog != nil {
		t.Fatal("n did not close the dialog")
	}
	f.press("x", "y")
	wantIn(t, f.view(), "restored the starter of lab 1; your files are in .msglabs/backup/")
	if got := kittest.Read(t, root, "labs/01-first/work.go"); got != kittest.Starter("first") {
		t.Fatalf("work.go after the reset:\n%s", got)
	}
	backups, _ := filepath.Glob(filepath.Join(root, ".msglabs", "backup", "*", "01-first", "work.go"))
	if len(backups) != 1 {
		t.Fatalf("backups after the reset: %v, want one", backups)
	}
}

func TestApplySolutionIsForInstructors(t *testing.T) {
	f := newFixture(t, sampleKit(t), false)
	f.press("a")
	if f.m.dialog != nil {
		t.Fatal("an attendee got the apply dialog")
	}
	wantIn(t, f.view(), "apply solution is for instructors")

	f = newFixture(t, sampleKit(t), true)
	f.press("a")
	wantIn(t, f.view(), "Apply the reference solution of lab 1?", "backed up first")
	f.press("y")
	wantIn(t, f.view(), "wrote the solution of lab 1")
	if got := kittest.Read(t, f.root, "labs/01-first/work.go"); got != kittest.Solved("first") {
		t.Fatalf("work.go after apply:\n%s", got)
	}
}

// TestCatchUpBringsTheCopyToTheStartOfALab: in instructor mode C on lab 3 asks, then writes the solutions of labs 1
// and 2 (backed up first), records them as caught up and says so the way `checker catch-up 3` does.
func TestCatchUpBringsTheCopyToTheStartOfALab(t *testing.T) {
	f := newFixture(t, steppedKit(t), false)
	f.send(selectLabMsg{lab: 3})
	f.press("C")
	if f.m.dialog != nil {
		t.Fatal("an attendee got the catch-up dialog")
	}
	wantIn(t, f.view(), "catch-up is for instructors")

	f = newFixture(t, steppedKit(t), true)
	f.send(selectLabMsg{lab: 3})
	f.press("C")
	wantIn(t, f.view(), "Catch up to the start of lab 3?", "backed up first", "caught up, not solved")
	f.press("n")
	if got := kittest.Read(t, f.root, "labs/01-first/work.go"); got != kittest.Starter("first") {
		t.Fatal("n wrote the solutions anyway")
	}
	f.press("C", "y")
	v := f.view()
	wantIn(t, v, "Caught up to lab 3", "wrote the reference solutions of labs 1, 2 and recorded them as passed",
		"lab 3 is where you start: `bin/checker run 3` shows its first failure", "caught up: lab 3 is where you start")
	for dir, pkg := range map[string]string{"01-first": "first", "02-second": "second"} {
		if got := kittest.Read(t, f.root, "labs/"+dir+"/work.go"); got != kittest.Solved(pkg) {
			t.Fatalf("labs/%s/work.go after catch-up:\n%s", dir, got)
		}
	}
	if b, _ := filepath.Glob(filepath.Join(f.root, ".msglabs", "backup", "*", "02-second", "work.go")); len(b) != 1 {
		t.Fatalf("backups of lab 2 after catch-up: %v, want one", b)
	}
	f.press("esc") // closes the notice
	v = f.view()
	wantIn(t, v, "✓ caught up", "2/3 passed", "lab 3 · Third, in steps")
	k, _ := kit.Open(f.root, false)
	if li, _ := k.Info(2); !li.CaughtUp || li.Status != progress.Passed {
		t.Fatalf("lab 2 in the progress file after catch-up: %+v; want passed, caught up", li)
	}
}

func TestHelpView(t *testing.T) {
	f := newFixture(t, sampleKit(t), false)
	f.press("?")
	wantIn(t, f.view(), "keys", "run", "watch", "diagram", "next failing test", "presenter view", "all lectures",
		"apply solution", "catch up to here", "mob", "second checker off the")
	f.press("j")
	if f.m.showHelp {
		t.Fatal("a key did not close the help")
	}
}

func TestQuitStopsRunAndWatch(t *testing.T) {
	f := newFixture(t, sampleKit(t), false)
	f.once(f.pressOnly("w")) // the watcher's command waits for a save: not run here
	if !f.m.run.watching() {
		t.Fatal("w did not start watching")
	}
	wantIn(t, f.view(), "[watching labs/01-first")
	cmd := f.pressOnly("q")
	if cmd == nil {
		t.Fatal("q returned no command")
	}
	if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Fatal("q did not quit")
	}
	if f.m.run.watching() || f.m.run.running {
		t.Fatal("quitting left the watcher or the run going")
	}
}

func TestMobTimerRotatesAndSurvivesRestart(t *testing.T) {
	root := sampleKit(t)
	f := newFixture(t, root, false)
	f.press("m")
	if f.screen() != scrMob || !f.m.mob.Typing() {
		t.Fatal("m did not open the mob form")
	}
	wantIn(t, f.view(), "enter start", "tab next field", "esc cancel")
	wantNotIn(t, f.view(), "q quit")
	for _, r := range "ann bob cem q?" { // q and ? are letters here, not quit and help
		f.send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}})
	}
	f.press("backspace") // a letter again, not back
	if f.screen() != scrMob {
		t.Fatal("backspace in the form left the mob screen")
	}
	f.press("tab", "5", "enter")
	v := f.view()
	wantIn(t, v, "driver     ann", "navigator  bob", "5:00 left", "[mob: ann drives 5:00]", "[ann] → bob → cem → q")
	f.clock.Add(5*time.Minute + time.Second)
	f.pump(f.send(mobTickMsg{}), 2)
	v = f.view()
	wantIn(t, v, "ROTATE: bob drives now, cem navigates", "driver     bob", "4:59 left")
	if f.bell.String() != "\a" {
		t.Fatalf("bell = %q, want one \\a", f.bell.String())
	}
	if _, ok := mob.Load(filepath.Join(root, ".msglabs", "mob.json")); !ok {
		t.Fatal("mob.json not written")
	}
	// A restart finds the rotation where it is.
	g := newFixture(t, root, false)
	g.clock.Add(6 * time.Minute)
	wantIn(t, g.view(), "[mob: bob drives 4:00]")
	g.press("m", "enter") // rotate now
	wantIn(t, g.view(), "driver     cem", "ROTATE: cem drives now")
	g.press("e")
	if g.m.mob.active || g.screen() != scrList {
		t.Fatal("e did not end the mob")
	}
	wantIn(t, g.view(), "mob rotation ended")
	if _, ok := mob.Load(filepath.Join(root, ".msglabs", "mob.json")); ok {
		t.Fatal("mob.json still there after the mob ended")
	}
	// esc cancels the form and, with no rotation, goes back.
	g.press("m", "esc")
	if g.screen() != scrList {
		t.Fatalf("esc in a new mob's form shows screen %d, want the list", g.screen())
	}
}

func TestWatchTogglesAndRerunsOnSave(t *testing.T) {
	f := newFixture(t, sampleKit(t), false)
	f.send(openMsg{to: scrRun, msg: watchLabMsg{lab: 1}})
	first := f.m.run.gen
	f.send(runDoneMsg{gen: first, res: failedResult(mustLab(t, f.m, 1))})
	// A save: the watcher's message starts a new run by the watch.
	f.send(watchMsg{gen: f.m.run.watchGen})
	if !f.m.run.running || f.m.run.gen != first+1 || f.m.run.by != byWatch {
		t.Fatalf("a save did not re-run: running %v gen %d by %q", f.m.run.running, f.m.run.gen, f.m.run.by)
	}
	wantIn(t, f.view(), "started by a save")
	// A save during a run queues one more run.
	f.send(watchMsg{gen: f.m.run.watchGen})
	if !f.m.run.pending {
		t.Fatal("a save during a run was not queued")
	}
	f.send(runDoneMsg{gen: f.m.run.gen, res: failedResult(mustLab(t, f.m, 1))})
	if !f.m.run.running || f.m.run.gen != first+2 {
		t.Fatal("the queued run did not start")
	}
	f.press("w")
	if f.m.run.watching() {
		t.Fatal("w did not stop watching")
	}
}

func TestGlamourStyle(t *testing.T) {
	if s := glamourStyle(false); s != "notty" {
		t.Fatalf("the markdown style without colours = %s, want notty", s)
	}
}
