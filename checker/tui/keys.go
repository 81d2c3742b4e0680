package tui

import (
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/viewport"
)

// KeyMap is every key of the TUI, in one place: every screen, its scrolling panes and the mob's form read their
// keys from it, and the footer and the `?` help view are generated from it.
type KeyMap struct {
	Up, Down, PageUp, PageDown, Top, Bottom key.Binding
	Open, Run, Watch, Hint, Brief, Slides   key.Binding
	Solution, Reset, Next, Mob, Apply       key.Binding
	CatchUp, Diagram, NextTest              key.Binding
	Prev, NextSlide, Presenter, Decks       key.Binding
	Files                                   key.Binding
	Skip, EndMob, Edit                      key.Binding
	NextField, Submit, Cancel               key.Binding // the mob's form, where letters are text
	Yes, No                                 key.Binding
	Back, Help, Quit, ForceQuit             key.Binding // ForceQuit works in dialogs and forms too
}

// DefaultKeyMap is the TUI's keys.
func DefaultKeyMap() KeyMap {
	b := func(keys []string, k, desc string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(k, desc))
	}
	return KeyMap{
		Up:        b([]string{"up", "k"}, "↑/k", "up"),
		Down:      b([]string{"down", "j"}, "↓/j", "down"),
		PageUp:    b([]string{"pgup", "ctrl+u"}, "pgup", "page up"),
		PageDown:  b([]string{"pgdown", "ctrl+d", " "}, "pgdn/space", "page down"),
		Top:       b([]string{"home", "g"}, "g", "top"),
		Bottom:    b([]string{"end", "G"}, "G", "bottom"),
		Open:      b([]string{"enter"}, "enter", "open"),
		Run:       b([]string{"r"}, "r", "run"),
		Watch:     b([]string{"w"}, "w", "watch"),
		Hint:      b([]string{"h"}, "h", "hint"),
		Brief:     b([]string{"b"}, "b", "brief"),
		Slides:    b([]string{"v"}, "v", "slides"),
		Solution:  b([]string{"s"}, "s", "solution"),
		Reset:     b([]string{"x"}, "x", "reset"),
		Next:      b([]string{"n"}, "n", "next lab"),
		Mob:       b([]string{"m"}, "m", "mob"),
		Apply:     b([]string{"a"}, "a", "apply solution"),
		CatchUp:   b([]string{"C"}, "C", "catch up to here"),
		Diagram:   b([]string{"d"}, "d", "diagram"),
		NextTest:  b([]string{"tab"}, "tab", "next failing test"),
		Prev:      b([]string{"left", "p"}, "←", "prev slide"),
		NextSlide: b([]string{"right", "l"}, "→", "next slide"),
		Presenter: b([]string{"P"}, "P", "presenter view"),
		Decks:     b([]string{"L"}, "L", "all lectures"),
		Files:     b([]string{"tab"}, "tab", "diff/files"),
		Skip:      b([]string{"enter"}, "enter", "rotate now"),
		EndMob:    b([]string{"e"}, "e", "end mob"),
		Edit:      b([]string{"c"}, "c", "change mob"),
		NextField: b([]string{"tab", "shift+tab", "up", "down"}, "tab", "next field"),
		Submit:    b([]string{"enter"}, "enter", "start"),
		Cancel:    b([]string{"esc"}, "esc", "cancel"),
		Yes:       b([]string{"y", "Y"}, "y", "yes"),
		No:        b([]string{"n", "N", "esc"}, "n/esc", "no"),
		Back:      b([]string{"esc", "backspace"}, "esc", "back"),
		Help:      b([]string{"?"}, "?", "help"),
		Quit:      b([]string{"q", "ctrl+c"}, "q", "quit"),
		ForceQuit: b([]string{"ctrl+c"}, "ctrl+c", "quit"),
	}
}

// viewport is the KeyMap as a scrolling pane reads it. Left and right belong to the slides, and half pages are
// not bound: the pane scrolls by line and by page.
func (k KeyMap) viewport() viewport.KeyMap {
	off := key.NewBinding(key.WithDisabled())
	return viewport.KeyMap{
		Up: k.Up, Down: k.Down, PageUp: k.PageUp, PageDown: k.PageDown,
		HalfPageUp: off, HalfPageDown: off, Left: off, Right: off,
	}
}
