package gotest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Options describe one `go test -json` run of one package.
type Options struct {
	Dir     string        // working directory: the kit root
	Package string        // "./labs/03-consumer-acks/"
	LabDir  string        // "labs/03-consumer-acks", to locate panics
	Env     []string      // extra KEY=value pairs on top of the current environment
	Timeout time.Duration // go test -timeout; 0 means 90s
	Count   int           // -count; 0 means 1
	Race    bool          // -race
	Tags    []string      // -tags
	Overlay string        // -overlay file
	Run     string        // -run pattern
	Quick   bool          // skip go test's vet pass and link without debug info: the attendee's edit→verdict loop
}

// DefaultTimeout bounds one lab run; a lab's tests finish in seconds, so this only fires on a hang.
const DefaultTimeout = 90 * time.Second

// Args returns the arguments after "go" for the run.
func (o Options) Args() []string {
	timeout, count := o.Timeout, o.Count
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if count <= 0 {
		count = 1
	}
	args := []string{"test", "-json", "-count=" + strconv.Itoa(count), "-timeout=" + timeout.String()}
	if o.Race {
		args = append(args, "-race")
	}
	if o.Quick {
		// About 0.2 s of a 0.9 s edit→verdict loop on a 2-core machine; `make test` still vets everything.
		args = append(args, "-vet=off", "-ldflags=-s -w")
	}
	if len(o.Tags) > 0 {
		args = append(args, "-tags="+strings.Join(o.Tags, ","))
	}
	if o.Overlay != "" {
		args = append(args, "-overlay="+o.Overlay)
	}
	if o.Run != "" {
		args = append(args, "-run="+o.Run)
	}
	return append(args, o.Package)
}

// Run runs `go test -json` as described and parses its stream live, calling onEvent as tests start and finish.
// A failing test is not an error; an error means go could not be run or its output could not be read.
func Run(ctx context.Context, o Options, onEvent func(Event)) (*Report, error) {
	cmd := exec.CommandContext(ctx, "go", o.Args()...)
	cmd.Dir = o.Dir
	cmd.Env = append(os.Environ(), o.Env...)
	cmd.Cancel = func() error {
		if err := cmd.Process.Signal(os.Interrupt); err != nil {
			return cmd.Process.Kill()
		}
		return nil
	}
	cmd.WaitDelay = 10 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("go test: %w", err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start go test: %w", err)
	}
	rep, perr := Parse(stdout, ParseOptions{LabDir: o.LabDir}, onEvent)
	werr := cmd.Wait()
	rep.Elapsed = time.Since(start)
	if s := strings.TrimSpace(stderr.String()); s != "" {
		rep.Stderr = strings.TrimSpace(rep.Stderr + "\n" + s)
	}
	if ctx.Err() != nil {
		return rep, fmt.Errorf("go test: %w", ctx.Err())
	}
	if perr != nil {
		return rep, perr
	}
	var exit *exec.ExitError
	if werr != nil && !errors.As(werr, &exit) {
		return rep, fmt.Errorf("go test: %w", werr)
	}
	if werr != nil && len(rep.Tests) == 0 && len(rep.Build) == 0 && !rep.PackageFail {
		// go itself failed before running anything (bad flag, unreadable overlay, …).
		return rep, fmt.Errorf("go test: %s", firstLine(rep.Stderr, werr.Error()))
	}
	return rep, nil
}

func firstLine(s, fallback string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return fallback
	}
	line, _, _ := strings.Cut(s, "\n")
	return line
}
