package tui

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/x/ansi"

	"msglabs/checker/kit"
	"msglabs/checker/report"
	"msglabs/shared/infra"
)

// common is what every screen shares: the options, the kit, the keys, the styles and the body's size. The kit
// belongs to the UI goroutine (Update and View): background commands open a Kit of their own and hand their
// results back as messages. Only the endpoints are guarded, because background runs resolve them.
type common struct {
	opts   Options
	kit    *kit.Kit
	keys   KeyMap
	st     Styles
	width  int // of the body
	height int // of the body
	// glamour is the markdown style: "dark", "light", or "notty" with NO_COLOR or without colours.
	glamour string
	// colour is whether the terminal gets colours (not NO_COLOR, not an ASCII profile).
	colour bool

	// posted are the root's own messages (a screen to show, back, a dialog, the list's cursor) that a screen sent
	// while it handled a message; the root acts on them before Update returns (see post).
	posted []tea.Msg

	epsMu sync.Mutex
	eps   *infra.Endpoints
}

// post hands msg to the root, which acts on it before its Update returns, never later. A command would do it later:
// its message queues behind the keys already typed, so the `j j` typed right after esc would reach the screen esc
// was leaving. Called on the UI goroutine only (from a screen's Update); it returns no command, to be returned in
// place of one.
func (c *common) post(msg tea.Msg) tea.Cmd {
	c.posted = append(c.posted, msg)
	return nil
}

// open shows screen `to` with msg (what to show: a lab, a deck, a run to start).
func (c *common) open(to screenID, msg tea.Msg) tea.Cmd { return c.post(openMsg{to: to, msg: msg}) }

// back returns to the screen shown before this one.
func (c *common) back() tea.Cmd { return c.post(goBackMsg{}) }

// ask opens a dialog.
func (c *common) ask(d *dialog) tea.Cmd { return c.post(askMsg{d: d}) }

// selectLab moves the list's cursor to lab n.
func (c *common) selectLab(n int) tea.Cmd { return c.post(selectLabMsg{lab: n}) }

// now is the injected clock.
func (c *common) now() time.Time { return c.opts.Now() }

// labs is the lab list with statuses; it is computed from the catalog and the progress, without I/O.
func (c *common) labs() []kit.LabInfo { return c.kit.List() }

// lab returns lab n with its status.
func (c *common) lab(n int) (kit.LabInfo, bool) {
	for _, l := range c.labs() {
		if l.Number == n {
			return l, true
		}
	}
	return kit.LabInfo{}, false
}

// lastRun is when lab n's last counted run was recorded and what it said (progress.RunPass or RunFail; zero and ""
// before any), as the progress file has it now (another checker's runs included, once reloaded).
func (c *common) lastRun(n int) (time.Time, string) {
	l, err := c.kit.Catalog.Lab(n)
	if err != nil {
		return time.Time{}, ""
	}
	p := c.kit.Progress.Lab(l.Slug)
	return p.LastRunAt, p.LastRun
}

// reportOptions say how the run's report spells commands and paths.
func (c *common) reportOptions() report.Options {
	o := c.opts.Report
	if o.Path == nil {
		root := c.kit.Root
		o.Path = func(abs string) string {
			if rel, err := filepath.Rel(root, abs); err == nil && !strings.HasPrefix(rel, "..") {
				return filepath.ToSlash(rel)
			}
			return abs
		}
	}
	return o
}

// endpoints resolves the services once and remembers them; called from background commands only.
func (c *common) endpoints(ctx context.Context) (infra.Endpoints, error) {
	c.epsMu.Lock()
	defer c.epsMu.Unlock()
	if c.eps != nil {
		return *c.eps, nil
	}
	if c.opts.Resolve == nil {
		return infra.Endpoints{}, fmt.Errorf("%w: no way to find RabbitMQ and PostgreSQL", infra.ErrUnreachable)
	}
	eps, err := c.opts.Resolve(ctx)
	if err != nil {
		return eps, err
	}
	c.eps = &eps
	return eps, nil
}

// bar draws a progress bar of width w with done of total filled.
func bar(st Styles, done, total, w int) string {
	fill := 0
	if total > 0 {
		fill = min(done*w/total, w)
	}
	return st.BarFull.Render(strings.Repeat("█", fill)) + st.BarEmpty.Render(strings.Repeat("░", w-fill))
}

// fit makes s exactly h lines of at most w cells: longer lines are cut, missing lines are blank.
func fit(s string, w, h int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > h {
		lines = lines[:h]
	}
	for i, l := range lines {
		lines[i] = truncate(detab(l), w)
	}
	for len(lines) < h {
		lines = append(lines, "")
	}
	return strings.Join(lines, "\n")
}

// detab expands tabs to four spaces: the width of a tab is the terminal's business, and a line wider than it
// thinks would wrap and break the layout.
func detab(s string) string { return strings.ReplaceAll(s, "\t", "    ") }

// truncate cuts a line (which may hold ANSI sequences) to w cells.
func truncate(s string, w int) string {
	if ansi.StringWidth(s) <= w {
		return s
	}
	return ansi.Truncate(s, w, "…")
}
