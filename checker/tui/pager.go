package tui

import (
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
)

// pager is a scrolling pane driven by the KeyMap: the viewport takes the keys it knows (lines, pages) from the
// KeyMap, and the pager adds the two it does not (top, bottom). Every scrolling pane of the TUI is one.
type pager struct {
	keys KeyMap
	vp   viewport.Model
}

func newPager(keys KeyMap) pager {
	vp := viewport.New(0, 1)
	vp.KeyMap = keys.viewport()
	return pager{keys: keys, vp: vp}
}

// Update scrolls on a key of the KeyMap; it reports whether the key was a scrolling key.
func (p *pager) Update(msg tea.Msg) (tea.Cmd, bool) {
	km, ok := msg.(tea.KeyMsg)
	if !ok {
		return nil, false
	}
	switch {
	case key.Matches(km, p.keys.Top):
		p.vp.GotoTop()
		return nil, true
	case key.Matches(km, p.keys.Bottom):
		p.vp.GotoBottom()
		return nil, true
	case key.Matches(km, p.keys.Up, p.keys.Down, p.keys.PageUp, p.keys.PageDown):
		var cmd tea.Cmd
		p.vp, cmd = p.vp.Update(msg)
		return cmd, true
	}
	return nil, false
}

// SetSize sets the pane's size, keeping the scroll position where it can.
func (p *pager) SetSize(w, h int) {
	p.vp.Width, p.vp.Height = w, max(h, 1)
	p.vp.SetYOffset(p.vp.YOffset)
}

// SetContent replaces the text, keeping the scroll position (top: back to the first line).
func (p *pager) SetContent(s string, top bool) {
	off := p.vp.YOffset
	p.vp.SetContent(detab(s))
	if top {
		p.vp.GotoTop()
		return
	}
	p.vp.SetYOffset(off)
}

// Scrolled is how far down the pane is, in percent, or -1 when its text fits.
func (p *pager) Scrolled() int {
	if p.vp.TotalLineCount() <= p.vp.Height {
		return -1
	}
	return int(p.vp.ScrollPercent() * 100)
}

func (p *pager) View() string { return p.vp.View() }
