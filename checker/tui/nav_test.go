package tui

import (
	"testing"

	tea "github.com/charmbracelet/bubbletea"
)

// sendKeys sends keys one after the other without running the commands they return, as the program does with
// keys typed faster than a command's goroutine delivers its message: each key must reach the screen the key
// before it led to.
func (f *fixture) sendKeys(keys ...tea.KeyMsg) {
	for _, k := range keys {
		f.send(k)
	}
}

// TestKeysRightAfterEscReachTheScreenEscWentBackTo: `esc j j` typed at once on a run screen goes back to the list
// and moves its cursor two labs down; no key goes to the run screen being left.
func TestKeysRightAfterEscReachTheScreenEscWentBackTo(t *testing.T) {
	f := newFixture(t, steppedKit(t), true)
	f.startRun(1)
	f.send(runDoneMsg{gen: f.m.run.gen, res: failedResult(mustLab(t, f.m, 1))})
	f.sendKeys(keyMsg("esc"), keyMsg("j"), keyMsg("j"))
	if f.screen() != scrList {
		t.Fatalf("esc j j left screen %d shown, want the list", f.screen())
	}
	if li, _ := f.list().selected(); li.Number != 3 {
		t.Fatalf("esc j j put the cursor on lab %d, want lab 3 (both j moved it)", li.Number)
	}
	// And the other way: enter then b at once opens the brief of the lab the run screen shows.
	f.sendKeys(keyMsg("k"), keyMsg("enter"), keyMsg("b"))
	if f.screen() != scrDoc || len(f.m.stack) != 3 {
		t.Fatalf("k enter b: screen %d, stack %v; want the brief over the run over the list", f.screen(), f.m.stack)
	}
}

// TestEscJoinedToTheNextKeyIsBothKeys: tmux with its escape-time hands `esc` and a `j` typed right after it over as
// one alt+j; that is esc, then j.
func TestEscJoinedToTheNextKeyIsBothKeys(t *testing.T) {
	f := newFixture(t, steppedKit(t), true)
	f.startRun(1)
	f.send(runDoneMsg{gen: f.m.run.gen, res: failedResult(mustLab(t, f.m, 1))})
	f.sendKeys(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("j"), Alt: true}, keyMsg("j"))
	if f.screen() != scrList {
		t.Fatalf("alt+j j left screen %d shown, want the list (alt+j is esc j)", f.screen())
	}
	if li, _ := f.list().selected(); li.Number != 3 {
		t.Fatalf("alt+j j put the cursor on lab %d, want lab 3", li.Number)
	}
	// In the mob's form a text field has the keyboard: there alt keys are the field's (alt+b: a word back).
	f.press("m")
	if !f.m.typing() {
		t.Fatal("the mob form did not take the keyboard")
	}
	f.sendKeys(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("b"), Alt: true})
	if f.screen() != scrMob {
		t.Fatalf("alt+b in the mob's form left it for screen %d", f.screen())
	}
}
