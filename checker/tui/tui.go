// Package tui is the checker's interactive face: the lab list, live test runs with their failure stories, watch
// mode, hints, the brief and the slides, solutions and diffs, reset, the environment bar, instructor mode and the
// mob timer. It is a face on the checker's core (kit, gotest, doctor, mob), never a second implementation: it reads
// the same lab metadata (labs/*/lab.yaml), writes the same progress file and runs the same tests as the command line.
//
// The root Model routes by screen (list, run, doc, solution, mob); each screen lives in its own file. One Styles and
// one KeyMap serve them all. Nothing slow happens in Update: test runs, the doctor, markdown rendering, reset and
// apply run in tea.Cmds and come back as messages.
package tui

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/spinner"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/ansi"
	"github.com/muesli/termenv"

	"msglabs/checker/doctor"
	"msglabs/checker/gotest"
	"msglabs/checker/kit"
	"msglabs/checker/progress"
	"msglabs/shared/infra"
)

// Options configure the TUI. Kit is required; the zero value of everything else is a sensible default, except
// Resolve and Doctor: without them runs report the services as missing and the environment bar stays unknown.
type Options struct {
	Kit     *kit.Kit
	Resolve func(ctx context.Context) (infra.Endpoints, error) // where RabbitMQ and PostgreSQL are (infra.Resolve)
	Doctor  func(ctx context.Context) []doctor.Check           // the environment checks (doctor.Run)
	Checker string                                             // the checker binary, for the lab tests' MSGLABS_CHECKER
	Getenv  func(string) string
	Now     func() time.Time // the clock; tests fix it
	Bell    io.Writer        // where the mob's bell (\a) rings; nil: silent
	// Static turns off animation (spinner ticks) so tests and golden files are deterministic.
	Static bool
	// Width and Height are the size assumed until the terminal reports its own (default 80×24).
	Width, Height int
	// Started is when the process started; OnFirstFrame, if set, gets the time from Started to the first frame.
	Started      time.Time
	OnFirstFrame func(time.Duration)
}

// EnvWatch set to "poll" makes watch mode scan modification times instead of using file system events.
const EnvWatch = "MSGLABS_WATCH"

// Run starts the TUI on the terminal and returns when the user quits.
func Run(o Options, progOpts ...tea.ProgramOption) error {
	m := New(o)
	opts := append([]tea.ProgramOption{tea.WithAltScreen()}, progOpts...)
	p := tea.NewProgram(m, opts...)
	_, err := p.Run()
	m.Close()
	return err
}

// screen is what the body of the window shows.
type screen int

const (
	scrList screen = iota
	scrRun
	scrDoc
	scrSolution
	scrMob
)

// common is what every screen shares: the kit, the keys, the styles, the size and the options.
type common struct {
	opts   Options
	kit    *kit.Kit
	keys   KeyMap
	st     Styles
	width  int
	height int
	// glamour is the markdown style: "dark", "light", or "notty" with NO_COLOR or without a terminal.
	glamour string

	epsMu sync.Mutex
	eps   *infra.Endpoints

	firstFrame sync.Once
}

// bodyHeight is the height left for a screen under the header, the environment bar and the status line, above the
// footer.
func (c *common) bodyHeight() int { return max(c.height-4, 3) }

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

// adoptProgress picks up what a background run recorded. Every change to the progress goes through the file under
// a lock (progress.Store.Update), so the file holds the run's result and the hints shown meanwhile: re-read it.
func (c *common) adoptProgress(p *progress.Store) {
	if p == nil {
		return
	}
	if _, err := c.kit.Progress.Reload(); err != nil {
		c.kit.Progress = p
	}
}

// Model is the root model: it owns the screens and routes messages to them.
type Model struct {
	c *common

	screen   screen
	list     *listModel
	run      *runModel
	doc      *docModel
	sol      *solutionModel
	mob      *mobModel
	env      *envModel
	confirm  *confirmModel
	help     help.Model
	showHelp bool

	banner      string
	bannerUntil time.Time
	flash       string
	flashError  bool
}

// New builds the root model.
func New(o Options) *Model {
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Width == 0 {
		o.Width = 80
	}
	if o.Height == 0 {
		o.Height = 24
	}
	c := &common{opts: o, kit: o.Kit, keys: DefaultKeyMap(), st: DefaultStyles(), width: o.Width, height: o.Height}
	c.glamour = glamourStyle(o.Getenv)
	m := &Model{c: c, help: help.New()}
	m.help.Styles.ShortKey = c.st.Bold
	m.help.Styles.FullKey = c.st.Bold
	m.list = newList(c)
	m.run = newRun(c)
	m.doc = newDoc(c)
	m.sol = newSolution(c)
	m.mob = newMob(c)
	m.env = newEnv(c)
	m.resize()
	return m
}

// glamourStyle picks the markdown style: notty without colours, else by the terminal's background.
func glamourStyle(getenv func(string) string) string {
	if getenv("NO_COLOR") != "" || lipgloss.ColorProfile() == termenv.Ascii {
		return "notty"
	}
	if lipgloss.HasDarkBackground() {
		return "dark"
	}
	return "light"
}

// Close stops what runs in the background: a test run and the file watcher.
func (m *Model) Close() {
	m.run.stop()
}

// Init starts the background work that must not delay the first frame: the environment checks and the mob clock.
func (m *Model) Init() tea.Cmd {
	return tea.Batch(m.env.check(), m.mob.tick())
}

func (m *Model) resize() {
	m.help.Width = m.c.width
	m.run.resize()
	m.doc.resize()
	m.sol.resize()
}

// setFlash shows a one-line message above the footer until the next key.
func (m *Model) setFlash(s string, isErr bool) { m.flash, m.flashError = s, isErr }

// Update routes a message: background results go to their owners whatever the screen; keys go to the dialog, the
// help view or the current screen.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.c.width, m.c.height = msg.Width, msg.Height
		m.resize()
		return m, m.doc.rerender()
	case envMsg:
		m.env.set(msg)
		return m, nil
	case runEventMsg, runDoneMsg, runTickMsg, watchMsg, spinner.TickMsg:
		return m, m.updateRun(msg)
	case docMsg:
		m.doc.set(msg)
		return m, nil
	case solutionMsg:
		m.sol.set(msg)
		return m, nil
	case actionMsg:
		m.setFlash(msg.text, msg.err != nil)
		if msg.err == nil {
			m.sol.refresh()
		}
		return m, nil
	case mobTickMsg:
		return m, m.mobTick(msg)
	case tea.KeyMsg:
		return m, m.key(msg)
	}
	return m, nil
}

func (m *Model) updateRun(msg tea.Msg) tea.Cmd {
	before := m.run.passedNow()
	cmd := m.run.update(msg)
	if done, ok := msg.(runDoneMsg); ok && done.gen == m.run.gen {
		m.list.refresh()
		if m.run.res != nil && m.run.res.Kind == gotest.InfraError {
			cmd = tea.Batch(cmd, m.env.check())
		}
		if !before && m.run.passedNow() && m.screen != scrRun {
			m.setFlash(fmt.Sprintf("lab %d passed", m.run.lab), false)
		}
	}
	return cmd
}

func (m *Model) mobTick(msg mobTickMsg) tea.Cmd {
	rotated, cmd := m.mob.onTick(msg)
	if rotated != "" {
		m.banner = rotated
		m.bannerUntil = m.c.now().Add(bannerFor)
		if w := m.c.opts.Bell; w != nil {
			bell := w
			cmd = tea.Batch(cmd, func() tea.Msg { _, _ = io.WriteString(bell, "\a"); return nil })
		}
	}
	return cmd
}

// bannerFor is how long the rotation banner stays.
const bannerFor = 15 * time.Second

func (m *Model) key(msg tea.KeyMsg) tea.Cmd {
	k := m.c.keys
	if msg.String() == "ctrl+c" {
		return m.quit()
	}
	m.flash = ""
	if m.confirm != nil {
		cmd, done := m.confirm.update(msg, k)
		if done {
			m.confirm = nil
		}
		return cmd
	}
	if m.showHelp {
		if key.Matches(msg, k.Quit) {
			return m.quit()
		}
		m.showHelp = false
		return nil
	}
	if m.screen == scrMob && m.mob.editing() {
		return m.mob.update(msg, m)
	}
	switch {
	case key.Matches(msg, k.Quit):
		return m.quit()
	case key.Matches(msg, k.Help):
		m.showHelp = true
		return nil
	}
	switch m.screen {
	case scrList:
		return m.list.update(msg, m)
	case scrRun:
		return m.run.key(msg, m)
	case scrDoc:
		return m.doc.update(msg, m)
	case scrSolution:
		return m.sol.update(msg, m)
	case scrMob:
		return m.mob.update(msg, m)
	}
	return nil
}

func (m *Model) quit() tea.Cmd {
	m.run.stop()
	return tea.Quit
}

// labKey handles the keys that act on a lab, shared by the list and the run screen. It reports whether it took
// the key.
func (m *Model) labKey(msg tea.KeyMsg, n int) (tea.Cmd, bool) {
	k := m.c.keys
	li, ok := m.c.lab(n)
	if !ok {
		return nil, false
	}
	switch {
	case key.Matches(msg, k.Run):
		m.screen = scrRun
		return m.run.start(n, "you"), true
	case key.Matches(msg, k.Watch):
		m.screen = scrRun
		return m.run.toggleWatch(n), true
	case key.Matches(msg, k.Hint):
		h, err := m.c.kit.NextHint(n, 0)
		if err != nil {
			m.setFlash(err.Error(), true)
			return nil, true
		}
		more := "h again for the next one"
		if h.Index+1 >= h.Total {
			more = "that was the last hint"
		}
		m.setFlash(fmt.Sprintf("hint %d/%d: %s (%s)", h.Index+1, h.Total, h.Text, more), false)
		m.run.refreshContent()
		return nil, true
	case key.Matches(msg, k.Brief):
		m.screen = scrDoc
		return m.doc.open(li, docBrief), true
	case key.Matches(msg, k.Slides):
		m.screen = scrDoc
		return m.doc.open(li, docSlides), true
	case key.Matches(msg, k.Solution):
		m.screen = scrSolution
		return m.sol.open(n), true
	case key.Matches(msg, k.Reset):
		m.confirm = confirmReset(m.c, li)
		return nil, true
	case key.Matches(msg, k.Apply):
		if !m.c.kit.Instructor {
			m.setFlash("apply solution is for instructors (--instructor or MSGLABS_INSTRUCTOR=1)", true)
			return nil, true
		}
		m.confirm = confirmApply(m.c, li)
		return nil, true
	case key.Matches(msg, k.Mob):
		m.screen = scrMob
		return m.mob.open(), true
	case key.Matches(msg, k.Next):
		return m.next(li), true
	}
	return nil, false
}

// next goes to the lab after li, but only once li passed: the TUI never advances on its own.
func (m *Model) next(li kit.LabInfo) tea.Cmd {
	if li.Status != progress.Passed {
		m.setFlash(fmt.Sprintf("n goes to the next lab once lab %d passes (r runs it)", li.Number), true)
		return nil
	}
	labs := m.c.labs()
	for i, l := range labs {
		if l.Number == li.Number && i+1 < len(labs) {
			nx := labs[i+1]
			m.list.cursor = i + 1
			if m.run.watching() && m.run.lab != nx.Number {
				m.run.stopWatch()
			}
			m.screen = scrDoc
			return m.doc.open(nx, docBrief)
		}
	}
	m.setFlash("that was the last lab in this kit: well done", false)
	return nil
}

// View draws the header, the environment bar, the status line, the screen and the footer.
func (m *Model) View() string {
	c := m.c
	var body string
	switch {
	case m.showHelp:
		body = m.helpView()
	case m.confirm != nil:
		body = m.confirm.view(c)
	default:
		switch m.screen {
		case scrList:
			body = m.list.view()
		case scrRun:
			body = m.run.view()
		case scrDoc:
			body = m.doc.view()
		case scrSolution:
			body = m.sol.view()
		case scrMob:
			body = m.mob.view()
		}
	}
	out := strings.Join([]string{
		m.headerView(),
		m.env.view(),
		m.statusView(),
		fit(body, c.width, c.bodyHeight()),
		m.footerView(),
	}, "\n")
	if c.opts.OnFirstFrame != nil && !c.opts.Started.IsZero() {
		c.firstFrame.Do(func() { c.opts.OnFirstFrame(time.Since(c.opts.Started)) })
	}
	return out
}

func (m *Model) headerView() string {
	c := m.c
	labs := c.labs()
	passed := 0
	for _, l := range labs {
		if l.Status == progress.Passed || c.kit.Progress.Lab(l.Slug).Passed {
			passed++
		}
	}
	left := c.st.Title.Render("msglabs") + " " + bar(c.st, passed, len(labs), 20) +
		fmt.Sprintf(" %d/%d passed", passed, len(labs))
	var tags []string
	if c.kit.Instructor {
		tags = append(tags, c.st.Tag.Render("[instructor]"))
	}
	if s := m.mob.headerTag(); s != "" {
		tags = append(tags, s)
	}
	right := strings.Join(tags, " ")
	gap := c.width - lipgloss.Width(left) - lipgloss.Width(right)
	if gap < 1 {
		return truncate(left+" "+right, c.width)
	}
	return left + strings.Repeat(" ", gap) + right
}

func (m *Model) statusView() string {
	c := m.c
	if m.banner != "" && c.now().Before(m.bannerUntil) {
		return truncate(c.st.Banner.Render(m.banner), c.width)
	}
	if m.flash != "" {
		st := c.st.Hint
		if m.flashError {
			st = c.st.Warn
		}
		return truncate(st.Render(m.flash), c.width)
	}
	return ""
}

func (m *Model) footerView() string {
	c := m.c
	if m.confirm != nil {
		return truncate(m.help.ShortHelpView([]key.Binding{c.keys.Yes, c.keys.No}), c.width)
	}
	if m.showHelp {
		return truncate(c.st.Footer.Render("any key: close help · q: quit"), c.width)
	}
	var b []key.Binding
	switch m.screen {
	case scrList:
		b = m.list.shortHelp()
	case scrRun:
		b = m.run.shortHelp()
	case scrDoc:
		b = m.doc.shortHelp()
	case scrSolution:
		b = m.sol.shortHelp()
	case scrMob:
		b = m.mob.shortHelp()
	}
	// Help and quit come first, so they show on the narrowest terminal; `?` lists what the width cuts off.
	b = append([]key.Binding{c.keys.Help, c.keys.Quit}, b...)
	return truncate(m.help.ShortHelpView(b), c.width)
}

func (m *Model) helpView() string {
	k := m.c.keys
	groups := [][]key.Binding{
		{k.Up, k.Down, k.Open, k.Back, k.PageUp, k.PageDown, k.Top, k.Bottom},
		{k.Run, k.Watch, k.Hint, k.Next, k.Reset},
		{k.Brief, k.Slides, k.Prev, k.NextSlide, k.Presenter},
		{k.Solution, k.Files, k.Apply, k.Mob, k.Skip, k.Edit, k.EndMob},
		{k.Help, k.Quit},
	}
	h := m.help
	h.ShowAll = true
	title := m.c.st.Title.Render("keys")
	notes := m.c.st.Dim.Render("a (apply solution) and P (presenter view) are for instructors. " +
		"Watch mode re-runs the lab when you save one of its files; set MSGLABS_WATCH=poll if saves go unnoticed.")
	return title + "\n\n" + h.FullHelpView(groups) + "\n\n" + ansi.Wrap(notes, m.c.width, " ")
}

// bar draws a progress bar of width w with done of total filled.
func bar(st Styles, done, total, w int) string {
	fill := 0
	if total > 0 {
		fill = done * w / total
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

// wrap wraps text to w cells.
func wrap(s string, w int) string {
	if w < 10 {
		w = 10
	}
	return ansi.Wrap(s, w, " ")
}
