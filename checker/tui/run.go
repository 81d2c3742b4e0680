package tui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/spinner"
	tea "github.com/charmbracelet/bubbletea"

	"msglabs/checker/gotest"
	"msglabs/checker/kit"
	"msglabs/checker/lab"
	"msglabs/checker/progress"
	"msglabs/checker/report"
	"msglabs/shared/infra"
)

// Who started a run.
const (
	byYou   = "you"
	byWatch = "watch"
)

// Messages to the run screen: what to show (from the other screens), and what a run sends back. gen ties a run's
// messages to the run that sent them, so a late message of an old run is ignored.
type (
	// runLabMsg starts a run of lab.
	runLabMsg struct {
		lab int
		by  string
	}
	// showLabMsg shows lab's last result, or runs it when the screen has none.
	showLabMsg struct{ lab int }
	// watchLabMsg turns watch mode on for lab (or off, when it is on for lab).
	watchLabMsg struct{ lab int }

	runEventMsg struct {
		gen int
		ev  gotest.Event
	}
	runDoneMsg struct {
		gen int
		res *kit.RunResult
		err error
	}
	runTickMsg struct{ gen int }
	watchMsg   struct{ gen int }
)

// runTick is how often the running timers refresh while tests run.
const runTick = 100 * time.Millisecond

// testRow is one test while a run goes on.
type testRow struct {
	name    string
	started time.Time
	res     *gotest.Result // nil while running
	hanging bool           // the watchdog fired: it is being stopped
}

// runModel is the run screen: the live progress of a lab's tests with a timer per running test, then the run's
// report (checker/report's lines, styled by kind) in a scrolling pane, with the lab's step progress above it. It
// also owns watch mode, and opens the diagram of a failing test.
type runModel struct {
	c *common

	lab     int    // the lab shown (0: none yet)
	by      string // who started the last run
	running bool
	built   bool // the test binary is built: the tests run
	gen     int
	ch      chan tea.Msg
	cancel  context.CancelFunc
	started time.Time
	rows    []*testRow
	build   []string
	res     *kit.RunResult
	lines   []report.Line // the report of res
	err     error         // the run could not start or be recorded
	pending bool          // a save arrived while running: run again when done
	// seen is the lab's recorded last run (progress LastRunAt) as it was when res arrived and was recorded: when
	// the progress says otherwise later (another checker ran the lab, `make lab-N` in another terminal), res is out
	// of date and the screen says so instead of showing it as the lab's state.
	seen     time.Time
	finished time.Time // when the run shown ended

	watch    *watcher
	watchGen int
	watchLab int

	spin  spinner.Model
	pane  pager
	width int
}

func newRun(c *common) *runModel {
	r := &runModel{c: c, spin: spinner.New(spinner.WithSpinner(spinner.MiniDot)), pane: newPager(c.keys)}
	r.spin.Style = c.st.Running
	return r
}

// headLines are the lines above the pane: the title, the steps, the status and a rule.
const headLines = 4

// passedNow reports whether the lab shown passed its last run: the run on the screen, or the one recorded since
// when that one is out of date.
func (r *runModel) passedNow() bool {
	if r.stale() {
		_, outcome := r.c.lastRun(r.lab)
		return outcome == progress.RunPass
	}
	return r.res != nil && r.res.Passed()
}

// hasResult reports whether the screen shows the end of a run: its report, or why it could not run.
func (r *runModel) hasResult() bool { return !r.running && (r.res != nil || r.err != nil) }

// stale reports whether the run shown is older than the lab's recorded state: a run of the lab was recorded since
// by another checker (or the progress was changed under it).
func (r *runModel) stale() bool {
	if r.lab == 0 || !r.hasResult() {
		return false
	}
	at, _ := r.c.lastRun(r.lab)
	return !at.Equal(r.seen)
}

func (r *runModel) Update(msg tea.Msg) (screen, tea.Cmd) {
	switch msg := msg.(type) {
	case sizeMsg:
		r.width = msg.width
		r.pane.SetSize(msg.width, msg.height-headLines)
		r.refresh()
	case runLabMsg:
		return r, r.start(msg.lab, msg.by)
	case showLabMsg:
		if r.lab == msg.lab && (r.running || r.hasResult() && !r.stale()) {
			return r, nil
		}
		return r, r.start(msg.lab, byYou) // nothing to show, or only a result the progress has moved past
	case watchLabMsg:
		return r, r.toggleWatch(msg.lab)
	case selectLabMsg:
		if r.watching() && r.watchLab != msg.lab {
			r.stopWatch()
		}
	case progressMsg:
		r.refresh()
	case runEventMsg:
		if msg.gen != r.gen {
			return r, nil
		}
		r.event(msg.ev)
		r.refresh()
		return r, waitRun(r.ch)
	case runDoneMsg:
		if msg.gen != r.gen {
			return r, nil
		}
		return r, r.done(msg)
	case runTickMsg:
		if msg.gen != r.gen || !r.running {
			return r, nil
		}
		r.refresh()
		return r, tickRun(r.gen)
	case spinner.TickMsg:
		if !r.running {
			return r, nil
		}
		var cmd tea.Cmd
		r.spin, cmd = r.spin.Update(msg)
		return r, cmd
	case watchMsg:
		if msg.gen != r.watchGen || !r.watching() {
			return r, nil
		}
		return r, tea.Batch(r.start(r.watchLab, byWatch), waitWatch(r.watch, r.watchGen))
	case tea.KeyMsg:
		return r, r.key(msg)
	}
	return r, nil
}

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
	r.running, r.pending, r.built = true, false, false
	r.gen++
	r.started = r.c.now()
	r.rows, r.build, r.res, r.lines, r.err = nil, nil, nil, nil, nil
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.ch = startRun(ctx, r.c, n, r.gen)
	r.refresh()
	r.pane.vp.GotoTop()
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
// goroutine) and streams the test events, then the result, into the returned channel. The result is recorded by
// the UI's kit when it arrives (done).
func startRun(ctx context.Context, c *common, n, gen int) chan tea.Msg {
	ch := make(chan tea.Msg, 64)
	root, instructor, now := c.kit.Root, c.kit.Instructor, c.opts.Now
	opts := kit.RunOptions{Checker: c.opts.Checker, Owner: c.opts.Owner, Probes: c.opts.Probes}
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
		opts.Endpoints = eps
		swept := func() {}
		if c.opts.Sweep != nil {
			swept = c.opts.Sweep(ctx, eps) // this checkout's stale names, beside the run
		}
		res, err := k.Run(ctx, n, opts, func(ev gotest.Event) { send(runEventMsg{gen: gen, ev: ev}) })
		swept()
		send(runDoneMsg{gen: gen, res: res, err: err})
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

// done takes a run's result: it records it (when it counts) in the UI's kit, renders its report and tells the
// root.
func (r *runModel) done(msg runDoneMsg) tea.Cmd {
	r.running, r.cancel = false, nil
	r.res, r.err = msg.res, msg.err
	if r.res != nil && r.err == nil {
		r.err = r.c.kit.Record(r.res)
	}
	if r.res != nil {
		r.lines = report.Run(r.res, r.c.reportOptions())
	}
	r.seen, _ = r.c.lastRun(r.lab)
	r.finished = r.c.now()
	r.refresh()
	finished := runFinishedMsg{lab: r.lab, passed: r.passedNow(),
		infra: errors.Is(r.err, infra.ErrUnreachable) || (r.res != nil && r.res.Outcome() == kit.InfraDown)}
	cmds := []tea.Cmd{func() tea.Msg { return finished }}
	for _, w := range r.c.kit.Progress.Warnings() {
		cmds = append(cmds, flashErr(w))
	}
	if r.res != nil {
		cmds = append(cmds, r.announce(r.res))
	}
	if r.pending {
		cmds = append(cmds, r.start(r.lab, byWatch))
	}
	return tea.Batch(cmds...)
}

// announce tells the attendee's room about the run (Options.Announce), in the background; a room that does not
// answer is a flash, never a change to the run's result.
func (r *runModel) announce(res *kit.RunResult) tea.Cmd {
	c := r.c
	hook := c.opts.Announce
	li, ok := c.lab(res.Lab.Number)
	if hook == nil || !ok {
		return nil
	}
	return func() tea.Msg {
		ctx := context.Background()
		eps, err := c.endpoints(ctx)
		if err != nil {
			return nil
		}
		var warn strings.Builder
		hook(ctx, li, eps, res, &warn)
		if w := strings.TrimSpace(warn.String()); w != "" {
			return flashMsg{text: w, err: true}
		}
		return nil
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

// event applies one test event to the live rows.
func (r *runModel) event(ev gotest.Event) {
	switch ev.Kind {
	case gotest.Built:
		r.built = true
	case gotest.TestStarted:
		if r.row(ev.Test) == nil {
			r.rows = append(r.rows, &testRow{name: ev.Test, started: r.c.now()})
		}
	case gotest.TestHanging:
		if row := r.row(ev.Test); row != nil {
			row.hanging = true
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

func (r *runModel) row(name string) *testRow {
	for _, t := range r.rows {
		if t.name == name {
			return t
		}
	}
	return nil
}

// key handles the run screen's keys: scrolling, back, run again, the diagram, and the keys of a lab.
func (r *runModel) key(msg tea.KeyMsg) tea.Cmd {
	k := r.c.keys
	if cmd, ok := r.pane.Update(msg); ok {
		return cmd
	}
	switch {
	case key.Matches(msg, k.Back):
		return r.c.back()
	case key.Matches(msg, k.Open):
		if r.lab != 0 {
			return r.start(r.lab, byYou)
		}
		return nil
	case key.Matches(msg, k.Diagram):
		return r.diagram()
	}
	if r.lab == 0 {
		return nil
	}
	cmd, _ := labKey(r.c, msg, r.lab)
	return cmd
}

// diagram opens the sequence diagram of the run's failing tests, the first one the report presents first.
func (r *runModel) diagram() tea.Cmd {
	if r.stale() {
		at, _ := r.c.lastRun(r.lab)
		return flashErr(fmt.Sprintf("this result is out of date (lab %d was run again at %s): r runs it here, then d draws it",
			r.lab, timeOfDay(at)))
	}
	if r.res == nil || r.running {
		return flashErr("d draws a failing test of the last run: run the lab first (r)")
	}
	tests := report.FailingTests(r.res)
	if len(tests) == 0 {
		return flashErr("every test of this run passed: there is no failure to draw")
	}
	return r.c.open(scrDiagram, diagramOpenMsg{lab: r.lab, tests: tests})
}

// watching reports whether watch mode is on.
func (r *runModel) watching() bool { return r.watch != nil }

// toggleWatch turns watch mode on for lab n (running it once right away), or off.
func (r *runModel) toggleWatch(n int) tea.Cmd {
	if r.watching() && r.watchLab == n {
		r.stopWatch()
		r.refresh()
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
		return tea.Batch(r.start(n, byYou), waitWatch(r.watch, r.watchGen))
	}
	r.refresh()
	return waitWatch(r.watch, r.watchGen)
}

func (r *runModel) stopWatch() {
	if r.watch != nil {
		r.watch.Close()
		r.watch = nil
	}
}

// refresh rebuilds the pane's text from the run's state.
func (r *runModel) refresh() {
	r.pane.SetContent(r.content(), false)
}

func (r *runModel) View() string {
	c := r.c
	st := c.st
	if r.lab == 0 {
		return st.Dim.Render("no run yet: pick a lab in the list and press r")
	}
	li, _ := c.lab(r.lab)
	title := report.Header(li)[0].Text
	head := st.Title.Render(title) + "  failure mode " + st.Marker.Render(li.Failure)
	if r.watching() {
		head += "  " + st.Tag.Render("[watching "+li.Dir()+" · "+r.watch.Mode()+"]")
	}
	res := r.res
	if r.stale() {
		res = nil // the recorded progress is newer than the run shown
	}
	return strings.Join([]string{truncate(head, c.width), truncate(stepsLine(st, li, res), c.width),
		truncate(r.statusLine(), c.width), st.Dim.Render(strings.Repeat("─", c.width)), r.pane.View()}, "\n")
}

// stepsLine is the lab's step progress: a glyph per step (passed, failing, not run yet), the step the attendee is
// on in brackets, and its name. A run's own result is newer than the recorded progress, so it wins.
func stepsLine(st Styles, li kit.LabInfo, res *kit.RunResult) string {
	if len(li.Steps) == 0 {
		return ""
	}
	status := make([]string, len(li.Steps))
	for i, s := range li.StepInfos {
		status[i] = s.Status
	}
	current := li.Current
	if res != nil && len(res.Steps) == len(li.Steps) && res.Report != nil {
		for i, s := range res.Steps {
			status[i] = kit.StepFailing
			if s.Passed {
				status[i] = kit.StepPassed
			}
		}
		if res.Current > 0 {
			current = res.Current
		}
	}
	allPassed := true
	var glyphs []string
	for i, s := range status {
		g := st.Todo.Render(report.GlyphNotRun)
		switch s {
		case kit.StepPassed:
			g = st.Pass.Render(report.GlyphPass)
		case kit.StepFailing:
			g = st.Fail.Render(report.GlyphFail)
		}
		if s != kit.StepPassed {
			allPassed = false
		}
		if i+1 == current && s != kit.StepPassed {
			g = "[" + g + "]"
		}
		glyphs = append(glyphs, g)
	}
	name := report.StepName(li.Lab, current)
	if allPassed {
		name = fmt.Sprintf("every step passed (%d of %d)", len(status), len(status))
	}
	return strings.Join(glyphs, " ") + "  " + st.StepNow.Render(name)
}

// statusLine is the one line under the steps: running, with the time so far, or the run's verdict.
func (r *runModel) statusLine() string {
	c := r.c
	st := c.st
	if r.running {
		spin := r.spin.View() + " "
		if c.opts.Static {
			spin = "… "
		}
		what := "building the tests"
		if r.built {
			what = "running the tests"
		}
		return st.Running.Render(spin+what) + st.Dim.Render(" "+report.Duration(c.now().Sub(r.started))+r.byWhom())
	}
	if r.stale() {
		return st.Warn.Render(r.staleText() + " · r runs it here")
	}
	if r.err != nil && r.res == nil {
		if errors.Is(r.err, infra.ErrUnreachable) {
			return st.Warn.Render(report.Unreachable(r.err).Text)
		}
		return st.Error.Render(report.GlyphFail + " " + r.err.Error())
	}
	if r.res == nil {
		return st.Dim.Render("press r to run the lab's tests, w to re-run them on every save")
	}
	for _, l := range r.lines {
		if l.Kind == report.VerdictPass || l.Kind == report.VerdictFail {
			return styleText(st, l.Kind, l.Text, true) + st.Dim.Render(r.byWhom())
		}
	}
	return ""
}

// staleText says why the run shown is out of date: what the progress recorded after it.
func (r *runModel) staleText() string {
	at, outcome := r.c.lastRun(r.lab)
	switch {
	case at.IsZero():
		return fmt.Sprintf("out of date: lab %d's recorded progress was cleared after this run", r.lab)
	case outcome == progress.RunPass:
		return fmt.Sprintf("out of date: lab %d passed in a run recorded at %s, after this one", r.lab, timeOfDay(at))
	}
	return fmt.Sprintf("out of date: lab %d failed in a run recorded at %s, after this one", r.lab, timeOfDay(at))
}

// timeOfDay is a time as the run screen says it.
func timeOfDay(t time.Time) string { return t.Format("15:04:05") }

func (r *runModel) byWhom() string {
	if r.by == byWatch {
		return " · started by a save"
	}
	return ""
}

// content is the scrolling pane: while running, the tests (each running one with its time), afterwards the run's
// report without its verdict (the status line has it), then the hints shown for the step.
func (r *runModel) content() string {
	if r.lab == 0 {
		return ""
	}
	c := r.c
	li, _ := c.lab(r.lab)
	w := max(r.width-1, minWrap)
	var out []string
	if r.running || r.res == nil {
		out = renderLines(c.st, r.liveLines(li), w)
		out = append(out, r.runningRows(w)...)
	} else {
		var lines []report.Line
		for _, l := range r.lines {
			if l.Kind != report.VerdictPass && l.Kind != report.VerdictFail {
				lines = append(lines, l)
			}
		}
		out = renderLines(c.st, lines, w)
		if r.stale() {
			note := fmt.Sprintf("the report below is the earlier run of %s, not lab %d as it is now", timeOfDay(r.finished), r.lab)
			out = append([]string{c.st.Warn.Render(wrap(note, w)), ""}, out...)
		} else if r.passedNow() {
			out = append(out, "", c.st.Dim.Render(wrap("s: the reference solution next to its follow-up · n: the next lab · b: the brief again", w)))
		} else if len(report.FailingTests(r.res)) > 0 {
			out = append(out, "", c.st.Dim.Render(wrap("d: the failing test as a sequence diagram · h: a hint · w: re-run on every save", w)))
		}
	}
	if r.err != nil {
		out = append(out, renderLines(c.st, errLines(r.err), w)...)
	}
	out = append(out, hintLines(c.st, li, w)...)
	return strings.Join(out, "\n")
}

// liveLines are the report's lines for a run going on: the header's note (a locked lab), the compiler's messages,
// the finished tests.
func (r *runModel) liveLines(li kit.LabInfo) []report.Line {
	var lines []report.Line
	if r.running {
		lines = append(lines, report.Header(li)[1:]...)
	}
	for _, l := range r.build {
		lines = append(lines, report.Line{Kind: report.Build, Text: l, Indent: 1})
	}
	return lines
}

// runningRows are the tests of a run going on, in the order they started: a finished one as the report words it,
// a running one with its time so far, one the watchdog is stopping with how long it went without finishing.
func (r *runModel) runningRows(w int) []string {
	c := r.c
	st := c.st
	var out []string
	for _, t := range r.rows {
		indent := strings.Count(t.name, "/") + 1
		if t.res != nil {
			out = append(out, renderLine(st, report.TestRow(*t.res, indent), w)...)
			continue
		}
		spin := r.spin.View()
		if c.opts.Static {
			spin = "…"
		}
		took := report.Duration(c.now().Sub(t.started))
		pad := strings.Repeat("  ", indent)
		name := t.name
		if t.name == lab.ChaosTest {
			name += " (the chaos stage)"
		}
		if t.hanging {
			line := fmt.Sprintf("%s still running after %s: stopping it to see where it is stuck", name, took)
			out = append(out, pad+st.Warn.Render(spin+" "+line))
			continue
		}
		out = append(out, pad+st.Running.Render(spin+" "+name)+st.Dim.Render("  "+took))
	}
	return out
}

// errLines are what an error of the run itself says: INFRA when the services could not be found.
func errLines(err error) []report.Line {
	if errors.Is(err, infra.ErrUnreachable) {
		return []report.Line{report.Unreachable(err)}
	}
	return []report.Line{{Kind: report.VerdictFail, Text: report.GlyphFail + " " + err.Error()}}
}

// hintLines are the hints shown so far for the step the attendee is on.
func hintLines(st Styles, li kit.LabInfo, w int) []string {
	cur := li.Current
	if cur < 1 || cur > len(li.Steps) || cur > len(li.StepInfos) {
		return nil
	}
	hints := li.Steps[cur-1].Hints
	shown := li.StepInfos[cur-1].HintsShown
	if shown == 0 {
		return nil
	}
	out := []string{""}
	for i := 0; i < shown && i < len(hints); i++ {
		out = append(out, st.Hint.Render(wrap(fmt.Sprintf("hint %d/%d: %s", i+1, len(hints), hints[i]), w)))
	}
	return out
}

func (r *runModel) ShortHelp() []key.Binding {
	k := r.c.keys
	b := []key.Binding{k.Run, k.Watch, k.Hint, k.Diagram, k.Brief, k.Solution, k.Reset}
	if r.passedNow() {
		b = []key.Binding{k.Solution, k.Next, k.Run, k.Watch, k.Brief, k.Reset}
	}
	return append(b, k.Back)
}
