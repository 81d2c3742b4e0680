package tui

import (
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"msglabs/checker/gotest"
	"msglabs/checker/kit"
	"msglabs/checker/kittest"
	"msglabs/checker/lab"
)

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
	if f.screen() != scrList {
		t.Fatal("esc did not go back")
	}
}

// longComment is a line of the attendee's far wider than any pane.
var longComment = "// " + strings.Repeat("why this line is long: ", 12) + "END-OF-LINE"

// passLab3 records a pass of lab 3 (every step and the chaos stage) through the run screen.
func passLab3(t *testing.T, f *fixture) {
	t.Helper()
	l := mustLab(t, f.m, 3)
	res := judged(l, time.Second, pass("TestFirst"), pass("TestGuard"), pass("TestSecond"))
	res.Chaos = &kit.ChaosResult{Report: &gotest.Report{Tests: []gotest.Result{pass(lab.ChaosTest)}}, Kind: gotest.Passed, Runs: 3}
	f.send(selectLabMsg{lab: 3})
	f.startRun(3)
	f.send(runDoneMsg{gen: f.m.run.gen, res: res})
}

// TestAfterAPassTheFollowUpStandsBesideTheDiff: a pass unlocks the solution; s shows the diff with the follow-up
// beside it on a wide terminal (below it on a narrow one), and a long line wraps instead of being cut.
func TestAfterAPassTheFollowUpStandsBesideTheDiff(t *testing.T) {
	root := steppedKit(t)
	kittest.Write(t, root, map[string]string{"labs/03-steps/work.go": kittest.SteppedWork(true, true, false, true) + longComment + "\n"})
	f := newSizedFixture(t, root, false, 130, 30)
	passLab3(t, f)
	wantIn(t, f.view(), "✓ lab 3 passed", "solution 3", "s: the reference solution next to its follow-up")
	f.press("s")
	f.pump(f.m.screens[scrSolution].(*solutionModel).renderFollowUp(), 1)
	v := f.view()
	wantIn(t, v, "follow-up beside", "==> labs/03-steps/FOLLOWUP.md <==", "What just happened: the steps passed.",
		"-// why this line is long")
	wantNotIn(t, v, "…") // nothing cut at the pane's edge
	for i, l := range strings.Split(v, "\n") {
		if w := lipgloss.Width(l); w > 130 {
			t.Fatalf("line %d is %d cells wide, more than the terminal's 130: %q", i, w, l)
		}
		if at := strings.Index(l, "What just happened"); at >= 0 && lipgloss.Width(l[:at]) < 60 {
			t.Fatalf("the follow-up starts at column %d, not beside the diff: %q", lipgloss.Width(l[:at]), l)
		}
	}
	// The long line's end is there, on a continuation line that keeps its - sign.
	wantIn(t, strings.Join(tailLines(f), "\n"), "-↪", "END-OF-LINE")

	f.send(tea.WindowSizeMsg{Width: 80, Height: 30})
	f.pump(f.m.screens[scrSolution].(*solutionModel).renderFollowUp(), 1)
	v = f.view()
	wantIn(t, v, "follow-up first", "==> labs/03-steps/FOLLOWUP.md <==")
	for _, l := range strings.Split(v, "\n") {
		if w := lipgloss.Width(l); w > 80 {
			t.Fatalf("at 80 columns a line is %d cells wide: %q", w, l)
		}
	}
	if strings.Index(v, "FOLLOWUP.md") > strings.Index(v, "--- a/labs/03-steps/work.go") && strings.Contains(v, "--- a/") {
		t.Fatalf("on a narrow terminal the follow-up does not come first:\n%s", v)
	}
}

// tailLines scrolls the solution pane to its end and returns the view's lines.
func tailLines(f *fixture) []string {
	f.press("G")
	return strings.Split(f.view(), "\n")
}
