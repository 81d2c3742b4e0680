package tui

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"time"

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

	epsMu sync.Mutex
	eps   *infra.Endpoints
}

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
