// Package tui is the checker's interactive face: the lab list, live test runs with their failure stories and a
// sequence diagram of a failing test, watch mode, hints, the brief and the lectures, solutions and diffs next to
// the follow-up, reset and (for instructors) apply and catch-up, the environment bar and the mob timer. It is a face
// on the checker's core (kit, report, gotest, diagram, doctor, mob), never a second implementation: it reads the
// same lab metadata, records into the same progress file, runs the same tests and says the same sentences as the
// command line (checker/report words a run; the TUI only styles its lines).
//
// The root Model holds the screens (list, run, diagram, doc, slides, solution, mob), each a component of its own
// file (see screen), and moves between them on messages. One Styles and one KeyMap serve them all. Nothing slow
// happens in Update: test runs, the doctor, markdown rendering, reset, apply and catch-up run in tea.Cmds and come
// back as messages.
//
// Slides and the presenter view: the slides screen never shows presenter notes. An instructor opens a second
// checker in a second terminal (on the laptop, off the projector) and presses P there: that one becomes the
// presenter view (the notes, the next slide, a timer). The two follow each other through .msglabs/slides.json, so
// the arrow keys in either move both.
package tui

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"

	"msglabs/checker/doctor"
	"msglabs/checker/kit"
	"msglabs/checker/progress"
	"msglabs/checker/report"
	"msglabs/shared/infra"
)

// Options configure the TUI. Kit is required; the zero value of everything else is a sensible default, except
// Resolve and Doctor: without them runs report the services as missing and the environment bar stays unknown.
type Options struct {
	Kit     *kit.Kit
	Resolve func(ctx context.Context) (infra.Endpoints, error) // where RabbitMQ and PostgreSQL are (infra.Resolve)
	Doctor  func(ctx context.Context) []doctor.Check           // the environment checks (doctor.Run)
	// Probes, when set, check the services while a run builds its test binary, as the command line does: a service
	// that does not answer makes the run INFRA (kit.RunOptions.Probes).
	Probes *doctor.Probes
	Owner  string // MSGLABS_OWNER for the lab tests ("" leaves the harness's default)
	// Sweep, when set, removes this checkout's stale broker and database names beside each run, as the command line
	// does; the run waits for the sweep it started before it ends.
	Sweep func(ctx context.Context, eps infra.Endpoints) (wait func())
	// Announce, when set, tells the attendee's room about a recorded run (MSGLABS_ROOM); li is the lab after the run
	// was recorded. It runs in the background; what it writes to warn is flashed.
	Announce func(ctx context.Context, li kit.LabInfo, eps infra.Endpoints, res *kit.RunResult, warn io.Writer)
	Checker  string         // the checker binary, for the lab tests' MSGLABS_CHECKER
	Report   report.Options // how the run's report spells commands and paths (default: bin/checker, from the kit root)
	Getenv   func(string) string
	Now      func() time.Time // the clock; tests fix it
	Bell     io.Writer        // where the mob's bell (\a) rings; nil: silent
	// Static turns off everything that ticks (spinners, timers, the progress and slide polls) so tests and golden
	// files are deterministic; tests send the tick messages themselves.
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

// Layout: the header, the environment bar and the status line above the body, the footer below it.
const chromeLines = 4

// progressPoll is how often the TUI looks whether another checker changed the progress file (a stat).
const progressPoll = time.Second

// bannerFor is how long the rotation banner stays.
const bannerFor = 15 * time.Second

// reloadTickMsg asks the root to look at the progress file again.
type reloadTickMsg struct{}

// Model is the root model: it holds the screens, shows one, and routes messages to them.
type Model struct {
	c *common

	screens map[screenID]screen
	stack   []screenID // screens shown, the current one last; the list is always first
	run     *runModel  // also in screens: the root stops its run and watcher on quit
	mob     *mobModel  // also in screens: the root shows its tag in the header
	env     *envModel
	dialog  *dialog
	help    help.Model

	showHelp    bool
	banner      string
	bannerUntil time.Time
	flash       string
	flashError  bool
	firstFrame  bool
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
	c := &common{opts: o, kit: o.Kit, keys: DefaultKeyMap(), st: DefaultStyles()}
	c.colour = o.Getenv("NO_COLOR") == "" && lipgloss.ColorProfile() != termenv.Ascii
	c.glamour = glamourStyle(c.colour)
	m := &Model{c: c, help: help.New(), stack: []screenID{scrList}}
	m.help.Styles.ShortKey = c.st.Bold
	m.help.Styles.FullKey = c.st.Bold
	m.run = newRun(c)
	m.mob = newMob(c)
	m.env = newEnv(c)
	m.screens = map[screenID]screen{
		scrList:     newList(c),
		scrRun:      m.run,
		scrDiagram:  newDiagramView(c),
		scrDoc:      newDoc(c),
		scrSlides:   newSlides(c),
		scrSolution: newSolution(c),
		scrMob:      m.mob,
	}
	m.resize(o.Width, o.Height)
	if w := c.kit.Progress.Warnings(); len(w) > 0 {
		m.flash, m.flashError = w[0], true // a corrupt progress file moved aside: say so at once
	}
	return m
}

// glamourStyle picks the markdown style: notty without colours, else by the terminal's background.
func glamourStyle(colour bool) string {
	if !colour {
		return "notty"
	}
	if lipgloss.HasDarkBackground() {
		return "dark"
	}
	return "light"
}

// Close stops what runs in the background: a test run and the file watcher.
func (m *Model) Close() { m.run.stop() }

// Init starts the background work that must not delay the first frame: the environment checks, the mob clock and
// the look at the progress file.
func (m *Model) Init() tea.Cmd {
	return tea.Batch(m.env.check(), m.mob.tick(), m.reloadTick())
}

func (m *Model) reloadTick() tea.Cmd {
	if m.c.opts.Static {
		return nil
	}
	return tea.Tick(progressPoll, func(time.Time) tea.Msg { return reloadTickMsg{} })
}

// current is the screen shown.
func (m *Model) current() screenID { return m.stack[len(m.stack)-1] }

// resize gives every screen the body's size.
func (m *Model) resize(w, h int) tea.Cmd {
	m.c.width, m.c.height = w, max(h-chromeLines, 3)
	m.help.Width = w
	return m.broadcast(sizeMsg{width: m.c.width, height: m.c.height})
}

// broadcast hands msg to every screen.
func (m *Model) broadcast(msg tea.Msg) tea.Cmd {
	var cmds []tea.Cmd
	for _, id := range []screenID{scrList, scrRun, scrDiagram, scrDoc, scrSlides, scrSolution, scrMob} {
		s, cmd := m.screens[id].Update(msg)
		m.screens[id] = s
		cmds = append(cmds, cmd)
	}
	return tea.Batch(cmds...)
}

// to hands msg to one screen.
func (m *Model) to(id screenID, msg tea.Msg) tea.Cmd {
	s, cmd := m.screens[id].Update(msg)
	m.screens[id] = s
	return cmd
}

// show makes id the current screen: a screen already on the way back is returned to, anything else is pushed.
func (m *Model) show(id screenID) tea.Cmd {
	if i := slices.Index(m.stack, id); i >= 0 {
		m.stack = m.stack[:i+1]
	} else {
		m.stack = append(m.stack, id)
	}
	return m.broadcast(shownMsg{id: id})
}

// Update routes a message: the root's own messages, then keys to the dialog, the help view or the current screen,
// and everything else to every screen. What the screens posted while handling it (common.post: a screen to show,
// back, a dialog) is acted on before Update returns, so the next key reaches the screen this one led to.
//
// The TUI binds no alt key, so an alt+key is esc followed by the key: tmux (escape-time) and slow links deliver an
// esc typed quickly before another key as one alt key, and `esc j j` must go back and then move down twice. Only a
// text field that has the keyboard gets alt keys as they are (alt+b is a word back there).
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	if k, ok := msg.(tea.KeyMsg); ok && k.Alt && !m.typing() {
		plain := k
		plain.Alt = false
		return m, tea.Batch(m.settle(tea.KeyMsg{Type: tea.KeyEsc}), m.settle(plain))
	}
	return m, m.settle(msg)
}

// maxPosted bounds the messages a screen may post in answer to one message (posts answering posts included); more
// is a loop in the TUI, which is cut rather than left to hang the terminal.
const maxPosted = 32

// settle handles msg, then what the screens posted meanwhile, in order.
func (m *Model) settle(msg tea.Msg) tea.Cmd {
	m.c.posted = nil
	cmds := []tea.Cmd{m.update(msg)}
	for n := 0; len(m.c.posted) > 0 && n < maxPosted; n++ {
		next := m.c.posted[0]
		m.c.posted = m.c.posted[1:]
		cmds = append(cmds, m.update(next))
	}
	m.c.posted = nil
	return tea.Batch(cmds...)
}

func (m *Model) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		return m.resize(msg.Width, msg.Height)
	case tea.KeyMsg:
		return m.key(msg)
	case openMsg:
		return tea.Batch(m.show(msg.to), m.to(msg.to, msg.msg))
	case goBackMsg:
		if len(m.stack) > 1 {
			m.stack = m.stack[:len(m.stack)-1]
		}
		return m.broadcast(shownMsg{id: m.current()})
	case flashMsg:
		m.flash, m.flashError = msg.text, msg.err
		return nil
	case bannerMsg:
		m.banner, m.bannerUntil = msg.text, m.c.now().Add(bannerFor)
		if msg.text == "" {
			return nil
		}
		return m.ring()
	case askMsg:
		m.dialog = msg.d
		return nil
	case envMsg:
		m.env.set(msg)
		return nil
	case reloadTickMsg:
		return tea.Batch(m.reload(), m.reloadTick())
	case runFinishedMsg:
		return tea.Batch(m.runFinished(msg), m.broadcast(progressMsg{}))
	case actionMsg:
		m.flash, m.flashError = msg.text, msg.err != nil
		if msg.notice != nil {
			m.dialog = msg.notice
		}
		m.reloadQuietly()
		return tea.Batch(m.broadcast(msg), m.broadcast(progressMsg{}))
	}
	return m.broadcast(msg)
}

// runFinished tells about a run that ended while another screen is shown, and checks the services again after
// an INFRA run.
func (m *Model) runFinished(msg runFinishedMsg) tea.Cmd {
	if msg.passed && m.current() != scrRun {
		m.flash, m.flashError = fmt.Sprintf("lab %d passed", msg.lab), false
	}
	if msg.infra {
		return m.env.check()
	}
	return nil
}

// reload picks up what another checker recorded (the TUI in one terminal, `make lab-N` in another) and says which
// labs it passed.
func (m *Model) reload() tea.Cmd {
	before := m.c.labs()
	changed, err := m.c.kit.Reload()
	if err != nil {
		m.flash, m.flashError = err.Error(), true
		return nil
	}
	if !changed {
		return nil
	}
	var passed []string
	for i, l := range m.c.labs() {
		if i < len(before) && l.Status == progress.Passed && before[i].Status != progress.Passed {
			passed = append(passed, fmt.Sprintf("lab %d", l.Number))
		}
	}
	if len(passed) > 0 {
		m.flash, m.flashError = "another checker recorded a pass: "+strings.Join(passed, ", "), false
	}
	return m.broadcast(progressMsg{})
}

// reloadQuietly re-reads the progress after an action of the TUI's own (a reset, an apply, a catch-up).
func (m *Model) reloadQuietly() {
	if _, err := m.c.kit.Reload(); err != nil {
		m.flash, m.flashError = err.Error(), true
	}
}

// ring rings the mob's bell.
func (m *Model) ring() tea.Cmd {
	w := m.c.opts.Bell
	if w == nil {
		return nil
	}
	return func() tea.Msg { _, _ = io.WriteString(w, "\a"); return nil }
}

func (m *Model) key(msg tea.KeyMsg) tea.Cmd {
	k := m.c.keys
	if key.Matches(msg, k.ForceQuit) {
		return m.quit()
	}
	m.flash = ""
	if m.dialog != nil {
		cmd, done := m.dialog.update(msg, k)
		if done {
			m.dialog = nil
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
	if !m.typing() {
		switch {
		case key.Matches(msg, k.Quit):
			return m.quit()
		case key.Matches(msg, k.Help):
			m.showHelp = true
			return nil
		}
	}
	return m.to(m.current(), msg)
}

// typing reports whether a text field of the screen shown has the keyboard (then q, ? and alt keys are the field's).
func (m *Model) typing() bool {
	t, ok := m.screens[m.current()].(typist)
	return ok && t.Typing() && m.dialog == nil && !m.showHelp
}

func (m *Model) quit() tea.Cmd {
	m.run.stop()
	return tea.Quit
}

// View draws the header, the environment bar, the status line, the screen and the footer.
func (m *Model) View() string {
	c := m.c
	var body string
	switch {
	case m.showHelp:
		body = m.helpView()
	case m.dialog != nil:
		body = m.dialog.view(c)
	default:
		body = m.screens[m.current()].View()
	}
	out := strings.Join([]string{
		m.headerView(),
		m.env.view(),
		m.statusView(),
		fit(body, c.width, c.height),
		m.footerView(),
	}, "\n")
	if c.opts.OnFirstFrame != nil && !c.opts.Started.IsZero() && !m.firstFrame {
		m.firstFrame = true
		c.opts.OnFirstFrame(time.Since(c.opts.Started))
	}
	return out
}

func (m *Model) headerView() string {
	c := m.c
	labs := c.labs()
	passed := 0
	for _, l := range labs {
		if l.Status == progress.Passed {
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
	if m.dialog != nil {
		return truncate(m.help.ShortHelpView(m.dialog.keys(c.keys)), c.width)
	}
	if m.showHelp {
		return truncate(c.st.Footer.Render("any key: close help · q: quit"), c.width)
	}
	// Help and quit come first, so they show on the narrowest terminal; `?` lists what the width cuts off. While a
	// text field has the keyboard, q and ? are letters.
	cur := m.screens[m.current()]
	var b []key.Binding
	if t, ok := cur.(typist); !ok || !t.Typing() {
		b = []key.Binding{c.keys.Help, c.keys.Quit}
	}
	return truncate(m.help.ShortHelpView(append(b, cur.ShortHelp()...)), c.width)
}

func (m *Model) helpView() string {
	k := m.c.keys
	groups := [][]key.Binding{
		{k.Up, k.Down, k.Open, k.Back, k.PageUp, k.PageDown, k.Top, k.Bottom},
		{k.Run, k.Watch, k.Hint, k.Diagram, k.NextTest, k.Next, k.Reset},
		{k.Brief, k.Slides, k.Decks, k.Prev, k.NextSlide, k.Presenter},
		{k.Solution, k.Files, k.Apply, k.CatchUp, k.Mob, k.Skip, k.Edit, k.EndMob},
	} // help and quit are in the footer

	h := m.help
	h.ShowAll = true
	title := m.c.st.Title.Render("keys")
	notes := m.c.st.Dim.Render("a (apply solution), C (catch up: the solutions of the labs before this one) and P (presenter view) " +
		"are for instructors. The presenter view shows the notes, so open it in a second checker off the projector: " +
		"the two follow each other's slides. Watch mode re-runs the lab when you save one of its files; set " +
		"MSGLABS_WATCH=poll if saves go unnoticed.")
	return title + "\n\n" + h.FullHelpView(groups) + "\n\n" + wrap(notes, m.c.width)
}
