package tui

import (
	"context"
	"strings"

	tea "github.com/charmbracelet/bubbletea"

	"msglabs/checker/doctor"
)

// envMsg carries the doctor's checks.
type envMsg struct{ checks []doctor.Check }

// envModel is the environment bar: RabbitMQ, PostgreSQL and Docker (and Go) as the doctor sees them, checked in the
// background after the first frame, with the fix when something is missing.
type envModel struct {
	c        *common
	checking bool
	checks   []doctor.Check
}

func newEnv(c *common) *envModel { return &envModel{c: c} }

// check runs the doctor in the background.
func (e *envModel) check() tea.Cmd {
	run := e.c.opts.Doctor
	if run == nil {
		return nil
	}
	e.checking = true
	return func() tea.Msg { return envMsg{checks: run(context.Background())} }
}

func (e *envModel) set(msg envMsg) {
	e.checking = false
	e.checks = msg.checks
}

func (e *envModel) view() string {
	st := e.c.st
	if e.checks == nil {
		if e.checking {
			return st.Dim.Render("checking RabbitMQ, PostgreSQL and Docker…")
		}
		return st.Dim.Render("environment not checked")
	}
	var parts []string
	fix := ""
	for _, ch := range e.checks {
		if ch.Name == "Go" && ch.OK {
			continue // it runs, so Go is there; only say so when it is not
		}
		switch {
		case ch.OK:
			parts = append(parts, st.OK.Render("✓ ")+ch.Name)
		case ch.Required:
			parts = append(parts, st.Error.Render("✗ "+ch.Name))
			if fix == "" && ch.Fix != "" {
				fix = ch.Name + ": " + ch.Fix
			}
		default:
			parts = append(parts, st.Dim.Render("– "+ch.Name))
		}
	}
	line := strings.Join(parts, "  ")
	if fix != "" {
		line += "  " + st.Warn.Render("fix: "+fix)
	}
	return truncate(line, e.c.width)
}
