package tui

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/exp/golden"
	"github.com/charmbracelet/x/exp/teatest"

	"msglabs/checker/mob"
)

// The golden tests drive the whole program with teatest at 100×30, ASCII colours (TestMain) and a fixed clock,
// without spinners (Options.Static), and compare the last frame with testdata/<test>.golden (go test -update
// rewrites them).

func runGolden(t *testing.T, f *fixture, ready string, keys ...string) {
	t.Helper()
	tm := teatest.NewTestModel(t, f.m, teatest.WithInitialTermSize(100, 30))
	for _, k := range keys {
		tm.Send(keyMsg(k))
	}
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
		return bytes.Contains(b, []byte(ready)) && bytes.Contains(b, []byte("RabbitMQ"))
	}, teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
	tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("q")})
	final := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(*Model)
	golden.RequireEqual(t, []byte(final.View()))
}

func TestGoldenList(t *testing.T) {
	f := newFixture(t, sampleKit(t), false)
	runGolden(t, f, "First lab")
}

func TestGoldenRunFailure(t *testing.T) {
	f := newFixture(t, sampleKit(t), false)
	f.m.screen, f.m.run.lab = scrRun, 1
	tm := teatest.NewTestModel(t, f.m, teatest.WithInitialTermSize(100, 30))
	tm.Send(runDoneMsg{gen: 0, res: failedResult(mustLab(t, f.m, 1))})
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
		return bytes.Contains(b, []byte("publish o-17")) && bytes.Contains(b, []byte("RabbitMQ"))
	}, teatest.WithDuration(5*time.Second), teatest.WithCheckInterval(10*time.Millisecond))
	tm.Send(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("q")})
	final := tm.FinalModel(t, teatest.WithFinalTimeout(5*time.Second)).(*Model)
	golden.RequireEqual(t, []byte(final.View()))
}

func TestGoldenSolutionDiff(t *testing.T) {
	f := newFixture(t, sampleKit(t), true)
	runGolden(t, f, "+++ b/solutions", "s")
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
	runGolden(t, f, "navigator", "m")
}

func TestGoldenHelp(t *testing.T) {
	f := newFixture(t, sampleKit(t), false)
	runGolden(t, f, "presenter view", "?")
}
