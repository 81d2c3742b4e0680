package tui

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest"

	"msglabs/checker/gotest"
	"msglabs/checker/kittest"
	"msglabs/checker/lab"
	"msglabs/checker/mob"
)

// The golden tests drive the whole program with teatest at a fixed size (100×30 unless said), ASCII colours
// (TestMain), a fixed clock and nothing ticking (Options.Static), from fixture kits and fixture results (never a
// lab's own output, which its authors change), and compare the last frame with testdata/<test>.golden
// (go test -update rewrites them).

const goldenW, goldenH = 100, 30

// runGolden starts the program on f's model, sends keys, waits until a frame holds ready and the environment bar
// is filled in, and compares that frame, taken on the program's goroutine before quitting (quitting stops a run).
func runGolden(t *testing.T, f *fixture, w, h int, ready string, keys ...string) {
	t.Helper()
	frames := make(chan string, 1)
	tm := teatest.NewTestModel(t, framed{Model: f.m, frames: frames}, teatest.WithInitialTermSize(w, h))
	for _, k := range keys {
		tm.Send(keyMsg(k))
	}
	// Ready once the screen shows ready and the services' check has answered: "checking RabbitMQ, …" names the
	// broker too, and a snapshot taken then differs from the golden (it did, once, on a loaded machine).
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
		checked := bytes.Contains(b, []byte("✓ RabbitMQ")) || bytes.Contains(b, []byte("✗ RabbitMQ"))
		return bytes.Contains(b, []byte(ready)) && checked
	}, teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
	tm.Send(snapshotMsg{})
	var frame string
	select {
	case frame = <-frames:
	case <-time.After(5 * time.Second):
		t.Fatal("the program took no snapshot within 5s")
	}
	tm.Send(tea.KeyMsg{Type: tea.KeyCtrlC})
	tm.WaitFinished(t, teatest.WithFinalTimeout(5*time.Second))
	golden.RequireEqual(t, []byte(frame))
}

// framed is the root model with one more message: snapshotMsg sends the current frame to frames.
type framed struct {
	*Model
	frames chan string
}

type snapshotMsg struct{}

func (s framed) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if _, ok := msg.(snapshotMsg); ok {
		s.frames <- s.Model.View()
		return s, nil
	}
	_, cmd := s.Model.Update(msg)
	return s, cmd
}

func TestGoldenList(t *testing.T) {
	f := newFixture(t, steppedKit(t), false)
	runGolden(t, f, goldenW, goldenH, "First lab")
}

// TestGoldenRunFailure: lab 3's second step fails after the first passed, with a named mistake; the hints shown.
func TestGoldenRunFailure(t *testing.T) {
	f := newFixture(t, steppedKit(t), false)
	l := mustLab(t, f.m, 3)
	f.send(selectLabMsg{lab: 3})
	f.press("h")
	res := judged(l, 1900*time.Millisecond, pass("TestFirst"), pass("TestGuard"),
		fail("TestSecond", "STALLED", "order o-3 waits for a reply that never comes (1 asked, 0 answered) while its retry loop spins"))
	res.Mistakes = []lab.Mistake{l.Mistakes[1]}
	f.startRun(3)
	f.send(runDoneMsg{gen: f.m.run.gen, res: res})
	runGolden(t, f, goldenW, goldenH, "STALLED")
}

// TestGoldenRunning: a run going on, one test finished, one running, one the watchdog is stopping.
func TestGoldenRunning(t *testing.T) {
	f := newFixture(t, steppedKit(t), false)
	f.send(selectLabMsg{lab: 3})
	f.startRun(3)
	gen := f.m.run.gen
	f.send(runEventMsg{gen: gen, ev: gotest.Event{Kind: gotest.Built}})
	for _, name := range []string{"TestFirst", "TestGuard", "TestSecond"} {
		f.send(runEventMsg{gen: gen, ev: gotest.Event{Kind: gotest.TestStarted, Test: name}})
	}
	r := pass("TestFirst")
	f.send(runEventMsg{gen: gen, ev: gotest.Event{Kind: gotest.TestFinished, Test: "TestFirst", Result: &r}})
	f.clock.Add(12 * time.Second)
	f.send(runEventMsg{gen: gen, ev: gotest.Event{Kind: gotest.TestHanging, Test: "TestSecond"}})
	runGolden(t, f, goldenW, goldenH, "still running")
}

// TestGoldenPassAndFollowUp: lab 3 passed; s shows the diff with the follow-up beside it, long lines wrapped.
func TestGoldenPassAndFollowUp(t *testing.T) {
	root := steppedKit(t)
	kittest.Write(t, root, map[string]string{"labs/03-steps/work.go": kittest.SteppedWork(true, true, false, true) + longComment + "\n"})
	f := newSizedFixture(t, root, false, 130, goldenH)
	passLab3(t, f)
	f.press("s")
	f.pump(f.m.screens[scrSolution].(*solutionModel).renderFollowUp(), 1)
	f.press("G")
	runGolden(t, f, 130, goldenH, "What just happened")
}

func TestGoldenSolutionDiff(t *testing.T) {
	f := newFixture(t, sampleKit(t), true)
	runGolden(t, f, goldenW, goldenH, "+++ b/solutions", "s")
}

func TestGoldenDiagram(t *testing.T) {
	f := newFixture(t, sampleKit(t), false)
	writeEvents(t, f.root, 1, "TestLost", "lost.json")
	f.startRun(1)
	f.send(runDoneMsg{gen: f.m.run.gen, res: failedResult(mustLab(t, f.m, 1))})
	f.press("d")
	runGolden(t, f, goldenW, goldenH, "REDELIVERED")
}

func TestGoldenLectures(t *testing.T) {
	f := newFixture(t, lectureKit(t), false)
	f.press("L")
	runGolden(t, f, goldenW, goldenH, "Late topic")
}

func TestGoldenPresenterView(t *testing.T) {
	f := newFixture(t, sampleKit(t), true)
	f.press("v", "right", "P")
	runGolden(t, f, goldenW, goldenH, "live-code it")
}

func TestGoldenCatchUpDialog(t *testing.T) {
	f := newFixture(t, steppedKit(t), true)
	f.send(selectLabMsg{lab: 3})
	runGolden(t, f, goldenW, goldenH, "Catch up to the start", "C")
}

func TestGoldenMob(t *testing.T) {
	root := sampleKit(t)
	s, err := mob.New([]string{"ann", "bob", "cem"}, 7, t0.Add(-150*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := mob.Save(filepath.Join(root, filepath.FromSlash(mob.File)), s); err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, root, false)
	runGolden(t, f, goldenW, goldenH, "navigator", "m")
}

func TestGoldenHelp(t *testing.T) {
	f := newFixture(t, sampleKit(t), false)
	runGolden(t, f, goldenW, goldenH, "presenter view", "?")
}
