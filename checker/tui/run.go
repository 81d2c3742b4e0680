package tui

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/spinner"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"

	"msglabs/checker/gotest"
	"msglabs/checker/kit"
	"msglabs/checker/progress"
	"msglabs/shared/infra"
)

// Messages of a run. gen ties each to the run that sent it, so a late message of an old run is ignored.
type (
	runEventMsg struct {
		gen int
		ev  gotest.Event
	}
	runDoneMsg struct {
		gen      int
		res      *kit.RunResult
		err      error
		progress *progress.Store // what the run recorded, adopted by the UI's kit
	}
	runTickMsg struct{ gen int }
	watchMsg   struct{ gen int }
)

// runTick is how often the elapsed times refresh while tests run.
const runTick = 100 * time.Millisecond

// testRow is one test as the run screen shows it.
type testRow struct {
	name    string
	started time.Time
	res     *gotest.Result // nil while running
}

// runModel is the run screen: live progress of the lab's tests, then the result with the failure stories, in a
// scrollable pane. It also owns watch mode.
type runModel struct {
	c *common

	lab     int    // the lab shown (0: none yet)
	by      string // who started the last run: "you" or "watch"
	running bool
	gen     int
	ch      chan tea.Msg
	cancel  context.CancelFunc
	started time.Time
	rows    []*testRow
	build   []string
	res     *kit.RunResult
	err     error
	pending bool // a save arrived while running: run again when done

	watch    *watcher
	watchGen int
	watchLab int

	spin spinner.Model
	vp   viewport.Model
}

func newRun(c *common) *runModel {
	r := &runModel{c: c, spin: spinner.New(spinner.WithSpinner(spinner.MiniDot)), vp: viewport.New(c.width, 10)}
	r.spin.Style = c.st.Running
	return r
}

func (r *runModel) resize() {
	r.vp.Width = r.c.width
	r.vp.Height = max(r.c.bodyHeight()-3, 1)
	r.refreshContent()
}

// passedNow reports whether the lab shown passed its last run.
func (r *runModel) passedNow() bool { return r.res != nil && r.res.Passed() }

// start runs lab n in the background. A run already going on for the same lab is left alone (watch mode queues one
// more run instead); a run of another lab is cancelled.
func (r *runModel) start(n int, by string) tea.Cmd {
	if r.running {
		if r.lab == n {
			r.pending = true
			return nil
		}
		r.cancelRun()
	}
	if r.watching() && r.watchLab != n {
		r.stopWatch()
	}
	r.lab, r.by = n, by
	r.running, r.pending = true, false
	r.gen++
	r.started = r.c.now()
	r.rows, r.build, r.res, r.err = nil, nil, nil, nil
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.ch = startRun(ctx, r.c, n, r.gen)
	r.refreshContent()
	r.vp.GotoTop()
	cmds := []tea.Cmd{waitRun(r.ch)}
	if !r.c.opts.Static {
		cmds = append(cmds, r.spin.Tick, tickRun(r.gen))
	}
	return tea.Batch(cmds...)
}

func tickRun(gen int) tea.Cmd {
	return tea.Tick(runTick, func(time.Time) tea.Msg { return runTickMsg{gen} })
}

// startRun runs the lab's tests in a goroutine with a kit of its own (the UI's kit is never touched off the UI
// goroutine) and streams the test events, then the result, into the returned channel.
func startRun(ctx context.Context, c *common, n, gen int) chan tea.Msg {
	ch := make(chan tea.Msg, 64)
	root, instructor, self := c.kit.Root, c.kit.Instructor, c.opts.Checker
	now := c.opts.Now
	go func() {
		defer close(ch)
		send := func(msg tea.Msg) {
			select {
			case ch <- msg:
			case <-ctx.Done():
			}
		}
		eps, err := c.endpoints(ctx)
		if err != nil {
			send(runDoneMsg{gen: gen, err: err})
			return
		}
		k, err := kit.Open(root, instructor)
		if err != nil {
			send(runDoneMsg{gen: gen, err: err})
			return
		}
		k.Now = now
		res, err := k.Run(ctx, n, kit.RunOptions{Endpoints: eps, Checker: self}, func(ev gotest.Event) {
			send(runEventMsg{gen: gen, ev: ev})
		})
		if err == nil {
			err = k.Record(res)
		}
		send(runDoneMsg{gen: gen, res: res, err: err, progress: k.Progress})
	}()
	return ch
}

// waitRun delivers the next message of a run.
func waitRun(ch chan tea.Msg) tea.Cmd {
	return func() tea.Msg {
		msg, ok := <-ch
		if !ok {
			return nil
		}
		return msg
	}
}

func (r *runModel) cancelRun() {
	if r.cancel != nil {
		r.cancel()
		r.cancel = nil
	}
	r.running = false
}

// stop cancels a run and the watcher; for quitting.
func (r *runModel) stop() {
	r.cancelRun()
	r.stopWatch()
}

func (r *runModel) update(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case runEventMsg:
		if msg.gen != r.gen {
			return nil
		}
		r.event(msg.ev)
		r.refreshContent()
		return waitRun(r.ch)
	case runDoneMsg:
		if msg.gen != r.gen {
			return nil
		}
		r.running, r.cancel = false, nil
		r.res, r.err = msg.res, msg.err
		r.c.adoptProgress(msg.progress)
		r.refreshContent()
		if r.pending {
			return r.start(r.lab, "watch")
		}
		return nil
	case runTickMsg:
		if msg.gen != r.gen || !r.running {
			return nil
		}
		r.refreshContent()
		return tickRun(r.gen)
	case spinner.TickMsg:
		if !r.running {
			return nil
		}
		var cmd tea.Cmd
		r.spin, cmd = r.spin.Update(msg)
		return cmd
	case watchMsg:
		if msg.gen != r.watchGen || !r.watching() {
			return nil
		}
		return tea.Batch(r.start(r.watchLab, "watch"), waitWatch(r.watch, r.watchGen))
	}
	return nil
}

// event applies one test event to the live rows.
func (r *runModel) event(ev gotest.Event) {
	switch ev.Kind {
	case gotest.TestStarted:
		if r.row(ev.Test) == nil {
			r.rows = append(r.rows, &testRow{name: ev.Test, started: r.c.now()})
		}
	case gotest.TestFinished:
		row := r.row(ev.Test)
		if row == nil {
			row = &testRow{name: ev.Test, started: r.c.now()}
			r.rows = append(r.rows, row)
		}
		row.res = ev.Result
	case gotest.BuildOutput:
		r.build = append(r.build, ev.Line)
	}
}

// shownRows are the live rows while running; once done, the report's tests, each top-level test followed by its
// subtests.
func (r *runModel) shownRows() []*testRow {
	if r.running || r.res == nil || r.res.Report == nil {
		return r.rows
	}
	var out []*testRow
	tests := r.res.Report.Tests
	for i := range tests {
		if !tests[i].Top() {
			continue
		}
		out = append(out, &testRow{name: tests[i].Name, res: &tests[i]})
		for j := range tests {
			if strings.HasPrefix(tests[j].Name, tests[i].Name+"/") {
				out = append(out, &testRow{name: tests[j].Name, res: &tests[j]})
			}
		}
	}
	return out
}

func (r *runModel) row(name string) *testRow {
	for _, t := range r.rows {
		if t.name == name {
			return t
		}
	}
	return nil
}

// key handles the run screen's keys.
func (r *runModel) key(msg tea.KeyMsg, m *Model) tea.Cmd {
	k := r.c.keys
	switch {
	case key.Matches(msg, k.Back):
		m.screen = scrList
		return nil
	case key.Matches(msg, k.Up):
		r.vp.ScrollUp(1)
		return nil
	case key.Matches(msg, k.Down):
		r.vp.ScrollDown(1)
		return nil
	case key.Matches(msg, k.PageUp):
		r.vp.PageUp()
		return nil
	case key.Matches(msg, k.PageDown):
		r.vp.PageDown()
		return nil
	case key.Matches(msg, k.Top):
		r.vp.GotoTop()
		return nil
	case key.Matches(msg, k.Bottom):
		r.vp.GotoBottom()
		return nil
	case key.Matches(msg, k.Open):
		return r.start(r.lab, "you")
	}
	if r.lab == 0 {
		return nil
	}
	cmd, _ := m.labKey(msg, r.lab)
	return cmd
}

// watching reports whether watch mode is on.
func (r *runModel) watching() bool { return r.watch != nil }

// toggleWatch turns watch mode on for lab n (running it once right away), or off.
func (r *runModel) toggleWatch(n int) tea.Cmd {
	if r.watching() && r.watchLab == n {
		r.stopWatch()
		r.refreshContent()
		return nil
	}
	r.stopWatch()
	li, ok := r.c.lab(n)
	if !ok {
		return nil
	}
	poll := strings.EqualFold(r.c.opts.Getenv(EnvWatch), "poll")
	r.watch = startWatcher(r.c.kit.Catalog.Path(li.Dir()), poll, watchDebounce, pollInterval)
	r.watchGen++
	r.watchLab = n
	if r.lab != n || (r.res == nil && !r.running) {
		return tea.Batch(r.start(n, "you"), waitWatch(r.watch, r.watchGen))
	}
	r.refreshContent()
	return waitWatch(r.watch, r.watchGen)
}

func (r *runModel) stopWatch() {
	if r.watch != nil {
		r.watch.Close()
		r.watch = nil
	}
}

// refreshContent rebuilds the pane's text from the run's state.
func (r *runModel) refreshContent() {
	off := r.vp.YOffset
	r.vp.SetContent(detab(r.content()))
	r.vp.SetYOffset(off)
}

func (r *runModel) view() string {
	c := r.c
	st := c.st
	if r.lab == 0 {
		return st.Dim.Render("no run yet: pick a lab in the list and press r")
	}
	li, _ := c.lab(r.lab)
	head := st.Title.Render(fmt.Sprintf("lab %d · %s", li.Number, li.Title)) + "  failure mode " + st.Marker.Render(li.Failure)
	if r.watching() {
		head += "  " + st.Tag.Render("[watching "+li.Dir()+" · "+r.watch.Mode()+"]")
	}
	return head + "\n" + r.statusLine() + "\n" + st.Dim.Render(strings.Repeat("─", c.width)) + "\n" + r.vp.View()
}

// statusLine is the one line under the title: running, or the outcome.
func (r *runModel) statusLine() string {
	c := r.c
	st := c.st
	if r.running {
		spin := r.spin.View() + " "
		if c.opts.Static {
			spin = "… "
		}
		return st.Running.Render(spin+"running go test") + st.Dim.Render(" "+elapsed(c.now().Sub(r.started))+r.byWhom())
	}
	if r.err != nil {
		return st.Error.Render("✗ " + errLine(r.err))
	}
	if r.res == nil {
		return st.Dim.Render("press r to run the lab's tests, w to re-run them on every save")
	}
	res := r.res
	rep := res.Report
	pass, fail := rep.Counts()
	n := res.Lab.Number
	switch res.Kind {
	case gotest.Passed:
		return st.Pass.Render(fmt.Sprintf("✓ lab %d passed · %d tests · %s", n, pass, elapsed(rep.Elapsed))) + st.Dim.Render(r.byWhom())
	case gotest.BuildError:
		return st.Fail.Render(fmt.Sprintf("✗ lab %d does not compile", n)) + st.Dim.Render(r.byWhom())
	case gotest.InfraError:
		return st.Warn.Render("✗ the lab could not reach its services (not a failure of your code)")
	case gotest.TimedOut:
		return st.Fail.Render(fmt.Sprintf("✗ lab %d timed out: %s was still running", n, strings.Join(rep.Timeout, ", ")))
	case gotest.Panicked:
		return st.Fail.Render(fmt.Sprintf("✗ lab %d panicked in %s", n, rep.Panic.Test))
	case gotest.NoTests:
		return st.Warn.Render(fmt.Sprintf("✗ lab %d ran no tests", n))
	}
	return st.Fail.Render(fmt.Sprintf("✗ lab %d: %d passed, %d failed · %s", n, pass, fail, elapsed(rep.Elapsed))) + st.Dim.Render(r.byWhom())
}

func (r *runModel) byWhom() string {
	if r.by == "watch" {
		return " · started by a save"
	}
	return ""
}

var fileLine = regexp.MustCompile(`^(\S+\.go:\d+(?::\d+)?):(.*)$`)

// content is the scrollable pane: the tests (live or finished), the stories, the notes, the hints.
func (r *runModel) content() string {
	c := r.c
	st := c.st
	w := max(c.width-2, 20)
	var b strings.Builder
	line := func(s string) { b.WriteString(s + "\n") }
	if r.lab == 0 {
		return ""
	}
	li, _ := c.lab(r.lab)
	if r.running && !li.Unlocked {
		line(st.Note.Render(fmt.Sprintf("lab %d is still locked (pass the lab before it first); running it anyway, each lab stands alone.", li.Number)))
	}
	// Compiler messages, live or final, point at file:line.
	build := r.build
	if r.res != nil && r.res.Report != nil && len(r.res.Report.Build) > 0 {
		build = r.res.Report.Build
	}
	if len(build) > 0 {
		line(st.Fail.Render("does not compile:"))
		for _, l := range build {
			if m := fileLine.FindStringSubmatch(l); m != nil {
				line("  " + st.Location.Render(m[1]) + ":" + m[2])
			} else {
				line("  " + l)
			}
		}
		line(st.Dim.Render("fix the compile error and save (watch mode) or press r."))
		line("")
	}
	for _, t := range r.shownRows() {
		indent := strings.Repeat("  ", strings.Count(t.name, "/")+1)
		if t.res == nil {
			if !r.running {
				continue
			}
			spin := r.spin.View()
			if c.opts.Static {
				spin = "…"
			}
			line(indent + st.Running.Render(spin+" "+t.name) + st.Dim.Render("  "+elapsed(c.now().Sub(t.started))))
			continue
		}
		res := t.res
		switch res.Status {
		case gotest.Pass:
			line(indent + st.Pass.Render("✓ "+res.Name) + st.Dim.Render("  "+elapsed(res.Elapsed)))
			continue
		case gotest.Skip:
			line(indent + st.Dim.Render("- "+res.Name+"  skipped"))
			continue
		}
		line(indent + st.Fail.Render("✗ "+res.Name) + st.Dim.Render("  "+elapsed(res.Elapsed)))
		if !res.Top() && res.Story == "" {
			continue
		}
		if !res.Top() {
			continue // the parent shows the story it inherits
		}
		pad := indent + "    "
		switch {
		case res.TimedOut:
			line(pad + st.Fail.Render("did not finish in time: it hangs (a wait without a bound, or a message nobody takes?)"))
		case res.Panic != nil:
			line(pad + st.Fail.Render("panic: "+res.Panic.Message))
			if res.Panic.At != "" {
				line(pad + "at " + st.Location.Render(res.Panic.At))
			}
		case res.Story != "":
			for i, sl := range strings.Split(res.Story, "\n") {
				if i == 0 {
					mk, rest, _ := strings.Cut(sl, ":")
					for j, part := range hang(rest, w-len(pad)-len(mk)-1, "") {
						if j == 0 {
							line(pad + st.Marker.Render(mk+":") + st.Bold.Render(part))
							continue
						}
						line(pad + strings.Repeat(" ", len(mk)+1) + st.Bold.Render(part))
					}
					continue
				}
				for _, part := range hang(sl, w-len(pad), continuation(sl)) {
					line(pad + st.Timeline.Render(part))
				}
			}
		default:
			for _, ol := range res.Output {
				if strings.HasPrefix(ol, "=== ") || strings.HasPrefix(strings.TrimSpace(ol), "--- ") {
					continue
				}
				line(pad + ol)
			}
		}
	}
	if r.err != nil {
		line(st.Error.Render(errLine(r.err)))
		if strings.Contains(r.err.Error(), infra.ErrUnreachable.Error()) {
			line(st.Dim.Render("fix: `make up`, or start RabbitMQ and PostgreSQL, or set MSGLABS_AMQP_URL / MSGLABS_DATABASE_URL (`checker doctor` checks)"))
		}
	}
	if res := r.res; res != nil && !r.running {
		r.notes(line, res)
	}
	if len(li.AllHints()) > 0 && li.HintsShown > 0 {
		line("")
		for i := 0; i < li.HintsShown; i++ {
			line(st.Hint.Render(wrap(fmt.Sprintf("hint %d/%d: %s", i+1, len(li.AllHints()), li.AllHints()[i]), w)))
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// notes are what the CLI says after a run: races, edited tests, unsealed labs, what was unlocked, what next.
func (r *runModel) notes(line func(string), res *kit.RunResult) {
	st := r.c.st
	rep := res.Report
	line("")
	if rep != nil && res.Kind == gotest.InfraError {
		line(st.Warn.Render(firstLine(rep.Infra)))
		line(st.Dim.Render("fix: see the environment bar above; `make up`, or set MSGLABS_AMQP_URL / MSGLABS_DATABASE_URL"))
	}
	if rep != nil && res.Kind == gotest.NoTests && rep.Stderr != "" {
		line(st.Dim.Render(firstLine(rep.Stderr)))
	}
	if rep != nil && rep.Race {
		line(st.Warn.Render("the race detector found a data race (see the test output)."))
	}
	for _, why := range res.NotCounted {
		line(st.Note.Render("not counted: " + why))
	}
	if len(res.Unlocked) > 0 {
		line(st.Pass.Render("unlocked: " + strings.Join(res.Unlocked, ", ")))
	}
	switch res.Kind {
	case gotest.Passed:
		line(st.Dim.Render("n: next lab · s: compare with the reference solution · b: the brief again"))
	case gotest.Failed:
		line(st.Dim.Render(fmt.Sprintf("stuck? h gives a hint · b shows the brief · w re-runs on every save")))
	}
}

func (r *runModel) shortHelp() []key.Binding {
	k := r.c.keys
	b := []key.Binding{k.Run, k.Watch, k.Hint, k.Brief, k.Solution, k.Reset}
	if r.passedNow() {
		b = append([]key.Binding{k.Next}, b...)
	}
	return append(b, k.Back)
}

// elapsed formats a duration like the CLI: 340ms, 2.1s.
func elapsed(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	if d < time.Second {
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}

// errLine is the one line shown for an error: resolution errors list one unreachable service per line.
func errLine(err error) string {
	var parts []string
	for _, l := range strings.Split(err.Error(), "\n") {
		if l = strings.TrimSpace(strings.TrimPrefix(l, infra.ErrUnreachable.Error()+": ")); l != "" {
			parts = append(parts, l)
		}
	}
	return strings.Join(parts, " · ")
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// hang wraps s to width w; every line after the first starts with indent, so a long story line wraps readably
// instead of being cut at the edge of the pane.
func hang(s string, w int, indent string) []string {
	first := strings.SplitN(wrap(s, w), "\n", 2)
	if len(first) == 1 {
		return first
	}
	rest := strings.Split(wrap(strings.TrimLeft(strings.ReplaceAll(first[1], "\n", " "), " "), w-len(indent)), "\n")
	lines := []string{first[0]}
	for _, l := range rest {
		lines = append(lines, indent+l)
	}
	return lines
}

// continuation is the indent for the wrapped part of a story line: under its text, past a timeline line's time and
// actor columns ("  +0.017s  sales     published …").
func continuation(line string) string {
	lead := len(line) - len(strings.TrimLeft(line, " "))
	if m := timelineColumns.FindStringIndex(line); m != nil {
		return strings.Repeat(" ", m[1])
	}
	return strings.Repeat(" ", lead+2)
}

var timelineColumns = regexp.MustCompile(`^\s*[+-]\d+\.\d+s\s+\S+\s+`)
