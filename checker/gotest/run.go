package gotest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Options describe one run of one package's tests.
type Options struct {
	Dir     string        // working directory: the kit root
	Package string        // "./labs/03-consumer-acks/", relative to Dir
	LabDir  string        // "labs/03-consumer-acks", to locate panics and hangs
	Env     []string      // extra KEY=value pairs on top of the current environment
	Timeout time.Duration // the binary's -test.timeout; 0 means DefaultTimeout
	Count   int           // -test.count; 0 means 1
	Race    bool          // build with -race
	Tags    []string      // build with -tags
	Overlay string        // build with -overlay
	Run     string        // -test.run pattern, when Tests is empty
	Quick   bool          // build without vet and debug info: the attendee's edit→verdict loop

	// Tests are the tests to run, exactly: -test.run '^(TestA|TestB)$'. A named test that does not run, or is
	// skipped, ends up in Report.NotRun, and the run is not a pass.
	Tests []string
	// TestTimeout is the per-test watchdog: a test that goes this long without finishing (or without a subtest
	// starting or finishing), or a binary that goes this long without starting a test, is stopped with SIGQUIT
	// and its stacks searched for the lab's code (Report.Hang). 0 means DefaultTestTimeout; negative turns it off.
	TestTimeout time.Duration
	// RunDir, when set, is <root>/.msglabs/runs/NN: the full output goes to RunDir/last.log, and the binary gets
	// MSGLABS_RUN_DIR=RunDir (the harness writes its events there).
	RunDir string
	// TailLines is how many of a test's last output lines its Result keeps; 0 means DefaultTailLines.
	TailLines int
	// CacheDir holds the built test binaries; "" means Dir/.msglabs/cache.
	CacheDir string
	// Binary, when set, is the path Build writes the test binary to, instead of a name in CacheDir.
	Binary string
	// Processes, when above 1 and more than one test is named, runs each named test in a test binary of its own,
	// this many at once: a lab's tests mostly wait on the broker, so the run takes about as long as its slowest
	// test instead of the sum of all. The tests must share no state (the harness gives each its own names and
	// schema, as it does for thirty attendees on one broker). Results come in the order of Tests.
	Processes int
	// Took is how long each test took in an earlier run, by name, when known: with Processes, the tests that took
	// longest start first, so the slowest one does not start last and set the run's length. Results still come in
	// the order of Tests.
	Took map[string]time.Duration
}

// Defaults of a run.
const (
	// DefaultTimeout bounds one lab run (-test.timeout); the watchdog normally stops a hang long before.
	DefaultTimeout = 90 * time.Second
	// DefaultTestTimeout is how long a test may go without finishing before the watchdog stops it.
	DefaultTestTimeout = 12 * time.Second
	// hangGrace is how long a binary has to print its stacks and exit after SIGQUIT before it is killed.
	hangGrace = 3 * time.Second
	// pipeGrace is how long output may keep coming after the binary's process group was killed (a process that
	// left the group and holds the pipe).
	pipeGrace = 2 * time.Second
	// maxLogBytes bounds last.log.
	maxLogBytes = 64 << 20
)

// EnvRunDir tells the test binary where its run's files go (D5).
const EnvRunDir = "MSGLABS_RUN_DIR"

// scrubbed are variables the checker sets for a run when it means to: a value left in the shell must not leak in.
var scrubbed = []string{EnvRunDir, "MSGLABS_CHAOS", "MSGLABS_CHAOS_SEED", "MSGLABS_CHAOS_RUNS", "GOTRACEBACK"}

// Run builds the package's test binary and runs it as described, parsing its output live and calling onEvent
// (which may be nil) as tests start and finish. A failing test is not an error; an error means the run could not
// be made (go missing, an unreadable overlay) or was interrupted (ctx).
func Run(ctx context.Context, o Options, onEvent func(Event)) (*Report, error) {
	start := time.Now()
	bin, rep, err := buildPrivate(ctx, o, onEvent)
	if err != nil || rep != nil {
		if rep != nil {
			rep.Elapsed = time.Since(start)
			rep.BuildElapsed = rep.Elapsed
		}
		return rep, err
	}
	defer os.Remove(bin)
	built := time.Since(start)
	rep, err = Exec(ctx, bin, o, onEvent)
	if rep != nil {
		rep.BuildElapsed = built
		rep.Elapsed = time.Since(start)
	}
	return rep, err
}

// Exec runs an already built test binary (see Build) as described. The binary runs in the package's folder, in a
// process group of its own that is killed when the run ends, when ctx is done, and (on Linux) when the checker
// dies. Exec may be called for one binary from several goroutines at once.
func Exec(ctx context.Context, bin string, o Options, onEvent func(Event)) (*Report, error) {
	if onEvent == nil {
		onEvent = func(Event) {}
	}
	onEvent(Event{Kind: Built})
	if o.Processes > 1 && len(o.Tests) > 1 {
		return execParallel(ctx, bin, o, onEvent)
	}
	logPath := ""
	if o.RunDir != "" {
		logPath = filepath.Join(o.RunDir, LogName)
	}
	return exec1(ctx, bin, o, onEvent, logPath)
}

// exec1 runs the binary once, its full output going to logPath ("" for none).
func exec1(ctx context.Context, bin string, o Options, onEvent func(Event), logPath string) (*Report, error) {
	start := time.Now()
	log, err := openLog(logPath)
	if err != nil {
		return nil, err
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		log.abort()
		return nil, fmt.Errorf("run tests: %w", err)
	}
	cmd := exec.Command(bin, o.testArgs()...)
	cmd.Dir = filepath.Join(o.Dir, filepath.FromSlash(o.Package))
	cmd.Env = o.environ()
	cmd.Stdout, cmd.Stderr = pw, pw
	cmd.SysProcAttr = sysProcAttr()
	if err := startChild(cmd); err != nil {
		pw.Close()
		pr.Close()
		log.abort()
		return nil, fmt.Errorf("start test binary: %w", err)
	}
	pw.Close()
	r := &runner{o: o, cmd: cmd, log: log, start: start}
	r.p = newParser(ParseOptions{LabDir: o.LabDir, TailLines: o.TailLines}, onEvent)
	r.conv = newConverter(r.event)
	r.wd = newWatchdog(o.testTimeout(), start)
	rep, status := r.loop(ctx, pr)
	rep.Elapsed = time.Since(start)
	rep.LogPath = log.finish()
	if ctx.Err() != nil {
		return rep, fmt.Errorf("run tests: %w", ctx.Err())
	}
	r.judgeExit(status)
	rep.NotRun = notRun(o.Tests, rep.Tests)
	return rep, nil
}

// runner is one running test binary. Its methods run on the goroutine of Exec.
type runner struct {
	o     Options
	cmd   *exec.Cmd
	log   *runLog
	p     *parser
	conv  *converter
	wd    *watchdog
	start time.Time
	final bool // the binary printed its final PASS or FAIL
}

// loop feeds the binary's output to the converter until the pipe closes, and acts on the watchdog, ctx and the
// binary's exit. It returns the report and the binary's exit state.
func (r *runner) loop(ctx context.Context, pr *os.File) (*Report, *os.ProcessState) {
	chunks := make(chan []byte, 16)
	go readChunks(pr, chunks)
	exited := make(chan *os.ProcessState, 1)
	go func() { exited <- waitAndKillGroup(r.cmd) }()

	var status *os.ProcessState
	var drain, kill <-chan time.Time // set once the binary exited / once it was asked to dump its stacks
	done := ctx.Done()
	for {
		select {
		case b, ok := <-chunks:
			if !ok {
				if status == nil {
					status = <-exited
				}
				r.final = r.conv.Close()
				r.p.finish()
				if r.p.dump != nil {
					r.p.dump.fill(r.p.rep.Hang)
				}
				return r.p.rep, status
			}
			r.log.write(b)
			r.conv.Write(b)
		case <-r.wd.C():
			if test, after, ok := r.wd.fire(time.Now()); ok {
				r.p.hanging(test, after)
				r.p.onEvent(Event{Kind: TestHanging, Test: test})
				quit(r.cmd.Process.Pid)
				kill = time.After(hangGrace)
			}
		case <-kill:
			killGroup(r.cmd.Process.Pid)
			kill = nil
		case <-done:
			killGroup(r.cmd.Process.Pid)
			done = nil
		case status = <-exited:
			// The group is gone; whatever still holds the pipe is outside it. Read what is left, briefly.
			drain = time.After(pipeGrace)
			exited = nil
		case <-drain:
			pr.Close()
			drain = nil
		}
	}
}

// readChunks copies the pipe into chunks until it ends, then closes chunks.
func readChunks(pr *os.File, chunks chan<- []byte) {
	defer close(chunks)
	defer pr.Close()
	buf := make([]byte, 32*1024)
	for {
		n, err := pr.Read(buf)
		if n > 0 {
			chunks <- bytes.Clone(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// event takes one event from the converter: the watchdog sees it first, then the parser.
func (r *runner) event(ev event) {
	r.wd.observe(ev, time.Now())
	r.p.handle(ev)
}

// judgeExit records an exit that the output does not explain: the binary ended without its final PASS/FAIL, or
// with a status that its final line does not account for.
func (r *runner) judgeExit(status *os.ProcessState) {
	rep := r.p.rep
	if status == nil || rep.Hang != nil || len(rep.Timeout) > 0 || rep.Panic != nil {
		return
	}
	code := status.ExitCode()
	if r.final && (code == 0 || code == 1 && rep.PackageFail) {
		return
	}
	e := &Exit{Status: code, Test: lastRunning(rep)}
	if ws, ok := status.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		e.Status, e.Signal = -1, ws.Signal().String()
		e.Sentence = "was stopped by signal " + e.Signal + " (killed from outside, or out of memory?)"
	} else {
		e.Sentence = fmt.Sprintf("exited with status %d — os.Exit (or log.Fatal) in your code?", code)
	}
	rep.Exit = e
	rep.PackageFail = true
}

// lastRunning names the last top-level test that did not get to pass: the one running when the binary ended.
func lastRunning(rep *Report) string {
	for i := len(rep.Tests) - 1; i >= 0; i-- {
		if t := rep.Tests[i]; t.Top() && t.Status == Fail {
			return t.Name
		}
	}
	return ""
}

// notRun lists the named tests without a pass or a failure (or with a skip).
func notRun(names []string, results []Result) []string {
	var out []string
	for _, n := range names {
		ran := false
		for _, t := range results {
			if t.Name != n {
				continue
			}
			if t.Status == Skip {
				ran = false
				break
			}
			ran = ran || t.Status == Pass || t.Status == Fail
		}
		if !ran {
			out = append(out, n)
		}
	}
	return out
}

// RunPattern is the anchored -test.run pattern that selects exactly the named top-level tests.
func RunPattern(tests []string) string {
	quoted := make([]string, len(tests))
	for i, t := range tests {
		quoted[i] = regexp.QuoteMeta(t)
	}
	return "^(" + strings.Join(quoted, "|") + ")$"
}

// testArgs are the test binary's flags.
func (o Options) testArgs() []string {
	timeout, count := o.Timeout, o.Count
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if count <= 0 {
		count = 1
	}
	args := []string{"-test.v=test2json", "-test.paniconexit0", "-test.timeout=" + timeout.String(),
		"-test.count=" + strconv.Itoa(count)}
	switch {
	case len(o.Tests) > 0:
		args = append(args, "-test.run="+RunPattern(o.Tests))
	case o.Run != "":
		args = append(args, "-test.run="+o.Run)
	}
	return args
}

func (o Options) testTimeout() time.Duration {
	if o.TestTimeout == 0 {
		return DefaultTestTimeout
	}
	return o.TestTimeout
}

// environ is the test binary's environment: the checker's, without the run variables it did not mean to pass,
// then o.Env, then MSGLABS_RUN_DIR.
func (o Options) environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !contains(scrubbed, k) {
			env = append(env, kv)
		}
	}
	env = append(env, o.Env...)
	if o.RunDir != "" {
		env = append(env, EnvRunDir+"="+o.RunDir)
	}
	return env
}

var privateSeq atomic.Int64

// privateMark separates a cached binary's name from the pid and number of a run's own copy of it.
const privateMark = ".run-"

// buildPrivate builds the binary (under a lock, for two checkers on one working copy) and hard-links it to a name
// of this run's own, so that a build by another checker cannot change it while it runs. The caller removes it;
// copies left by a checker that was killed are removed here.
func buildPrivate(ctx context.Context, o Options, onEvent func(Event)) (string, *Report, error) {
	bin := o.binaryPath()
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return "", nil, fmt.Errorf("test binary cache: %w", err)
	}
	unlock, err := lockFile(ctx, bin+".lock")
	if err != nil {
		return "", nil, err
	}
	defer unlock()
	sweepPrivate(bin)
	if _, rep, err := build(ctx, o, bin, onEvent); err != nil || rep != nil {
		return "", rep, err
	}
	private := fmt.Sprintf("%s%s%d-%d", bin, privateMark, os.Getpid(), privateSeq.Add(1))
	if err := os.Link(bin, private); err != nil {
		if err := copyFile(bin, private); err != nil {
			return "", nil, fmt.Errorf("test binary: %w", err)
		}
	}
	return private, nil, nil
}

// sweepPrivate removes the run copies of bin whose checker is gone.
func sweepPrivate(bin string) {
	copies, _ := filepath.Glob(bin + privateMark + "*")
	for _, c := range copies {
		pid, _, _ := strings.Cut(strings.TrimPrefix(c, bin+privateMark), "-")
		if n, err := strconv.Atoi(pid); err == nil && n != os.Getpid() && !processAlive(n) {
			os.Remove(c)
		}
	}
}

func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, data, 0o755)
}
