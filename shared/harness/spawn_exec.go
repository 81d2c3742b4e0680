package harness

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"msglabs/shared/story"
)

// Bounds on a spawned process's end.
const (
	// quitLimit caps how long a process given SIGQUIT takes to print its goroutines and exit.
	quitLimit = 2 * time.Second
	// outputLimit caps how long its output takes to drain once it exited.
	outputLimit = time.Second
	// tailLines is how much of its output is kept for the story of an abnormal exit.
	tailLines = 200
	// maxDump bounds a kept goroutine dump.
	maxDump = 4 << 20
	// longestLine is where an output line without a newline is cut.
	longestLine = 64 * 1024
)

// Spawn starts a service instance called name as a child OS process running the role of the same name (see Main and
// Roles), with args. A restart is a new Spawn with the same name ("billing#2"): its memory starts empty, and two
// instances share none. The child's broker and database connections go through this process's proxies, so the
// timeline sees them and crashes, cuts and triggers work; its Logf lines go to the timeline and what it prints goes
// to the test's output, each line after "billing#2| ". Spawn returns once the child has started; wait for what it
// does (env.WaitConsumers, say). The child is stopped at cleanup, and dies with the test process.
func (e *Env) Spawn(name string, args Args) *Process {
	e.T.Helper()
	return e.SpawnRole(name, name, args)
}

// SpawnRole is Spawn for a role whose name differs from the process's ("billing-a" running "billing").
func (e *Env) SpawnRole(name, role string, args Args) *Process {
	e.T.Helper()
	e.role(role)
	e.Schema() // the child asks for its database and broker from goroutines that cannot fail the test: ready both
	p := e.newProcess(name)
	c := &child{p: p, exited: make(chan struct{})}
	p.child = c
	if _, err := p.brokerURL(); err != nil {
		e.T.Fatal(err)
	}
	if err := c.start(childConfig{Role: role, Name: p.Name, Prefix: e.prefix, Args: args}); err != nil {
		e.T.Fatalf("spawn %s: %v", p.Name, err)
	}
	return p
}

// Exited is closed once a spawned process has exited, for whatever reason (for an in-process one: never).
func (p *Process) Exited() <-chan struct{} {
	if p.child == nil {
		return nil
	}
	return p.child.exited
}

// child is the test's end of a spawned service: the OS process, the line to it, and its output.
type child struct {
	p      *Process
	cmd    *exec.Cmd
	exited chan struct{}
	output sync.WaitGroup

	sendMu sync.Mutex
	out    *json.Encoder
	pipe   *os.File // the write end of the child's fd 3

	mu         sync.Mutex
	killed     bool // the harness killed it: its end is no news
	quitting   bool // SIGQUIT sent: what it prints now is a goroutine dump
	done       bool // the role returned and said so
	fatal      bool // the service said why it cannot go on
	raced      bool // the race detector reported in its output
	tail       []string
	dump       strings.Builder
	unanswered []error // calls the test had no handler for
}

func (c *child) start(cfg childConfig) error {
	raw, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the test binary: %w", err)
	}
	pipes, err := newPipes(4)
	if err != nil {
		return err
	}
	toChild, fromChild, stdout, stderr := pipes[0], pipes[1], pipes[2], pipes[3]
	cmd := exec.Command(exe, "-test.run=^$") // should harness.Main not catch it, it runs no test
	cmd.Env = append(os.Environ(), childEnv+"="+string(raw), "GORACE="+childRace())
	cmd.ExtraFiles = []*os.File{toChild.r, fromChild.w} // the child's fd 3 and 4
	cmd.Stdout, cmd.Stderr = stdout.w, stderr.w
	cmd.SysProcAttr = childAttrs()
	err = startChild(cmd)
	for _, f := range []*os.File{toChild.r, fromChild.w, stdout.w, stderr.w} {
		f.Close()
	}
	if err != nil {
		for _, f := range []*os.File{toChild.w, fromChild.r, stdout.r, stderr.r} {
			f.Close()
		}
		return fmt.Errorf("start %s: %w", exe, err)
	}
	c.cmd, c.pipe, c.out = cmd, toChild.w, json.NewEncoder(toChild.w)
	c.output.Add(3) // stdout, stderr, and the child's messages: wait reads its end only once all three are in
	go c.readOutput(stdout.r, os.Stdout)
	go c.readOutput(stderr.r, os.Stderr)
	go c.serve(fromChild.r)
	go c.wait()
	return nil
}

// childRace is the race detector's options for a child: the test's own, without the second the race runtime waits
// at exit by default (atexit_sleep_ms), which would make every stop of a -race child last a second.
func childRace() string {
	return strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
}

type pipe struct{ r, w *os.File }

func newPipes(n int) ([]pipe, error) {
	out := make([]pipe, 0, n)
	for range n {
		r, w, err := os.Pipe()
		if err != nil {
			for _, p := range out {
				p.r.Close()
				p.w.Close()
			}
			return nil, fmt.Errorf("make a pipe: %w", err)
		}
		out = append(out, pipe{r, w})
	}
	return out, nil
}

func (c *child) send(e envelope) {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	_ = c.out.Encode(e) // a dead child reads nothing: its end is told by wait
}

func (c *child) reply(id uint64, e envelope, err error) {
	e.T, e.ID = msgReply, id
	if err != nil {
		e.Err = err.Error()
	}
	c.send(e)
}

// serve answers the child's messages until its line closes.
func (c *child) serve(r io.Reader) {
	defer c.output.Done()
	defer r.(io.Closer).Close()
	dec := json.NewDecoder(r)
	for {
		var e envelope
		if err := dec.Decode(&e); err != nil {
			return
		}
		c.handle(e)
	}
}

func (c *child) handle(e envelope) {
	p := c.p
	if p.fuse.Blown() && e.T != msgDone && e.T != msgFatal {
		return // frozen: what it says between the freeze and its death reaches no one, like all it sends
	}
	switch e.T {
	case msgLog:
		p.env.Log(p.Name, "%s", e.Text)
	case msgCall:
		go c.answerCall(e)
	case msgPoint:
		go c.answerPoint(e)
	case msgBroker:
		go func() {
			u, err := p.brokerURL()
			c.reply(e.ID, envelope{URL: u}, err)
		}()
	case msgDB:
		go func() {
			u, schema, err := p.databaseURL()
			c.reply(e.ID, envelope{URL: u, Schema: schema}, err)
		}()
	case msgFatal:
		c.mu.Lock()
		c.fatal = true
		c.mu.Unlock()
		p.failed(errors.New(e.Text))
	case msgDone:
		c.mu.Lock()
		c.done = true
		c.mu.Unlock()
		if e.Text != "" {
			p.failed(errors.New(e.Text))
		}
	}
}

func (c *child) answerCall(e envelope) {
	h, err := c.p.handler(e.Name)
	if err != nil {
		c.mu.Lock()
		c.unanswered = append(c.unanswered, err)
		c.mu.Unlock()
		c.reply(e.ID, envelope{}, err)
		return
	}
	c.reply(e.ID, envelope{Text: h(e.Arg)}, nil)
}

// answerPoint judges a crash point the child reached. A fatal one is never answered: Reached has killed the child.
func (c *child) answerPoint(e envelope) {
	if c.p.Points.Reached(e.Name) {
		return
	}
	c.reply(e.ID, envelope{}, nil)
}

// readOutput passes the child's output on, line by line after its name, and keeps the end of it.
func (c *child) readOutput(r *os.File, w io.Writer) {
	defer c.output.Done()
	defer r.Close()
	br := bufio.NewReaderSize(r, longestLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			c.line(strings.TrimRight(string(line), "\r\n"), w)
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

func (c *child) line(text string, w io.Writer) {
	c.mu.Lock()
	c.tail = append(c.tail, text)
	if len(c.tail) > tailLines {
		c.tail = c.tail[len(c.tail)-tailLines:]
	}
	if strings.Contains(text, "WARNING: DATA RACE") {
		c.raced = true
	}
	quitting := c.quitting
	if quitting && c.dump.Len() < maxDump {
		c.dump.WriteString(text)
		c.dump.WriteByte('\n')
	}
	c.mu.Unlock()
	if !quitting {
		fmt.Fprintf(w, "%s| %s\n", c.p.Name, text)
	}
}

// wait reaps the child and tells the timeline how it ended, unless the harness ended it.
func (c *child) wait() {
	_ = c.cmd.Wait()
	c.waitOutput(outputLimit)
	c.sendMu.Lock()
	c.pipe.Close()
	c.sendMu.Unlock()
	c.mu.Lock()
	news := !c.killed && !c.fatal && !(c.done && c.cmd.ProcessState.Success())
	c.mu.Unlock()
	c.p.finish()
	if news {
		how := c.exitStory()
		c.p.env.Event(story.Entry{Actor: c.p.Name, Kind: story.Exit, Text: how})
		c.p.mu.Lock()
		c.p.errs = append(c.p.errs, errors.New(how))
		c.p.mu.Unlock()
	}
	close(c.exited)
}

func (c *child) waitOutput(limit time.Duration) {
	drained := make(chan struct{})
	go func() { c.output.Wait(); close(drained) }()
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-drained:
	case <-t.C:
	}
}

// waitExit waits up to limit for the child to exit and reports whether it did.
func (c *child) waitExit(limit time.Duration) bool {
	t := time.NewTimer(limit)
	defer t.Stop()
	select {
	case <-c.exited:
		return true
	case <-t.C:
		return false
	}
}

// kill sends SIGKILL (the harness's doing: the end is not reported as news).
func (c *child) kill() {
	c.mu.Lock()
	c.killed = true
	c.mu.Unlock()
	_ = c.cmd.Process.Kill()
}

// stacks makes the child print its goroutines (SIGQUIT: the Go runtime dumps them and exits) and returns them. The
// child is dead afterwards.
func (c *child) stacks() []goroutine {
	select {
	case <-c.exited:
		return nil
	default:
	}
	c.mu.Lock()
	c.quitting, c.killed = true, true
	c.mu.Unlock()
	if err := c.cmd.Process.Signal(syscall.SIGQUIT); err != nil || !c.waitExit(quitLimit) {
		_ = c.cmd.Process.Kill()
		c.waitExit(quitLimit)
	}
	c.waitOutput(outputLimit)
	c.mu.Lock()
	defer c.mu.Unlock()
	return parseDump(c.dump.String())
}

// shutdown stops the child at cleanup: it is asked to return from its role, and must exit within Patience, or the
// test says where it is stuck.
func (c *child) shutdown() {
	t := c.p.env.T
	select {
	case <-c.exited:
	default:
		c.send(envelope{T: msgStop})
		if !c.waitExit(Patience) {
			t.Errorf("%s did not stop within %v after the test ended (does its role return when ctx is done?)%s",
				c.p.Name, Patience, stuckAt(c.stacks()))
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.raced {
		t.Errorf("%s: the race detector found a data race in it (its report is in the output above)", c.p.Name)
	}
	for _, err := range c.unanswered {
		t.Error(err)
	}
}

// exitStory says how the child ended by itself: "exited with status 2: panic: … (at billing.go:42 in
// (*Billing).Handle)".
func (c *child) exitStory() string {
	state := c.cmd.ProcessState
	c.mu.Lock()
	tail := append([]string(nil), c.tail...)
	raced, done := c.raced, c.done
	c.mu.Unlock()
	how := fmt.Sprintf("exited with status %d", state.ExitCode())
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		how = fmt.Sprintf("was killed by signal %v", ws.Signal())
	}
	if crash, at := crashIn(tail); crash != "" {
		return fmt.Sprintf("%s: %s%s", how, crash, at)
	}
	if raced {
		return how + ": the race detector found a data race in it (its report is in the output above)"
	}
	if !done {
		how += " before its role returned (os.Exit in the code?)"
	}
	if last := lastLine(tail); last != "" {
		how += fmt.Sprintf("; its last words: %q", last)
	}
	return how
}

// crashIn finds the last panic or fatal error in a child's output and where it happened in the lab's code.
func crashIn(tail []string) (crash, at string) {
	for i := len(tail) - 1; i >= 0; i-- {
		l := tail[i]
		if strings.HasPrefix(l, "panic: ") || strings.HasPrefix(l, "fatal error: ") {
			if gs := parseDump(strings.Join(tail[i:], "\n")); len(gs) > 0 {
				if f, ok := labFrame(gs[0].frames); ok {
					at = " (at " + f.String() + ")"
				}
			}
			return strings.TrimSuffix(l, " [recovered]"), at
		}
	}
	return "", ""
}

func lastLine(tail []string) string {
	for i := len(tail) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(tail[i]); l != "" {
			return l
		}
	}
	return ""
}
