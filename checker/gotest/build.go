package gotest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// buildWaitDelay bounds how long a cancelled build may take to let go of its pipes.
const buildWaitDelay = 5 * time.Second

// Build compiles the package's test binary (`go test -c`) with o's race, tags, overlay and quick settings, to
// o.Binary or to a name in the cache that is stable per package and settings (so an unchanged package is not
// linked again). A compile error is not an error: it comes back as a report of Kind BuildError, with a path of
// "". Builds of one binary by several checkers take turns.
func Build(ctx context.Context, o Options, onEvent func(Event)) (string, *Report, error) {
	bin := o.binaryPath()
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		return "", nil, fmt.Errorf("test binary: %w", err)
	}
	unlock, err := lockFile(ctx, bin+".lock")
	if err != nil {
		return "", nil, err
	}
	defer unlock()
	return build(ctx, o, bin, onEvent)
}

// build runs `go test -c -o bin`; the caller holds bin's lock.
func build(ctx context.Context, o Options, bin string, onEvent func(Event)) (string, *Report, error) {
	cmd := exec.CommandContext(ctx, "go", o.buildArgs(bin)...)
	cmd.Dir = o.Dir
	cmd.Env = buildEnv()
	cmd.SysProcAttr = sysProcAttr()
	cmd.Cancel = func() error { killGroup(cmd.Process.Pid); return nil }
	cmd.WaitDelay = buildWaitDelay
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	err := startChild(cmd)
	if err == nil {
		err = cmd.Wait()
	}
	if ctx.Err() != nil {
		return "", nil, fmt.Errorf("build tests: %w", ctx.Err())
	}
	if err == nil {
		return bin, nil, nil
	}
	if _, ok := err.(*exec.ExitError); !ok {
		return "", nil, fmt.Errorf("build tests: %w", err)
	}
	rep := &Report{Package: o.Package, PackageFail: true, Tests: []Result{}}
	var other []string
	replaced := o.replaced()
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		line = unoverlay(line, replaced)
		switch {
		case strings.HasPrefix(line, "# ") || strings.TrimSpace(line) == "":
		case buildLine.MatchString(line) || len(rep.Build) > 0 && strings.HasPrefix(line, "\t"):
			rep.Build = append(rep.Build, line)
		default:
			other = append(other, line)
		}
	}
	if len(rep.Build) == 0 {
		// go itself failed (a bad overlay, a missing module, an import cycle): not a line in the lab's code.
		return "", nil, fmt.Errorf("go test -c: %s", firstLine(strings.Join(other, "\n"), err.Error()))
	}
	rep.Stderr = strings.Join(other, "\n")
	if onEvent != nil {
		for _, l := range rep.Build {
			onEvent(Event{Kind: BuildOutput, Line: l})
		}
	}
	return "", rep, nil
}

// replaced maps each replacement file of o's overlay to the file it replaces, relative to o.Dir when inside it.
func (o Options) replaced() map[string]string {
	if o.Overlay == "" {
		return nil
	}
	data, err := os.ReadFile(o.Overlay)
	if err != nil {
		return nil
	}
	var ov struct{ Replace map[string]string }
	if json.Unmarshal(data, &ov) != nil {
		return nil
	}
	out := map[string]string{}
	for orig, repl := range ov.Replace {
		if repl == "" {
			continue
		}
		if rel, err := filepath.Rel(o.Dir, orig); err == nil && !strings.HasPrefix(rel, "..") {
			orig = filepath.ToSlash(rel)
		}
		out[repl] = orig
		// The go command shortens a path to the relative one when that is shorter (base.ShortPath): a replacement
		// in /tmp/x next to a kit in /tmp/kit is printed as ../x.
		if rel, err := filepath.Rel(o.Dir, repl); err == nil && len(rel) < len(repl) {
			out[rel] = orig
		}
	}
	return out
}

// unoverlay names a replacement file by the file it replaced: the compiler speaks of the replacement
// ("/tmp/verify-1/mistake/billing.go:3:1: …"), the attendee knows the lab's file.
func unoverlay(line string, replaced map[string]string) string {
	for repl, orig := range replaced {
		if strings.HasPrefix(line, repl+":") {
			return orig + strings.TrimPrefix(line, repl)
		}
	}
	return line
}

// buildGOGC is the garbage collector setting for the go command, the compiler and the linker when the user set
// none: linking a lab's test binary is most of the edit→verdict loop, and a lazier collector makes it about a
// tenth faster (for some 20 MB more memory).
const buildGOGC = "GOGC=400"

func buildEnv() []string {
	env := os.Environ()
	if os.Getenv("GOGC") == "" {
		env = append(env, buildGOGC)
	}
	return env
}

// buildArgs are the arguments after "go" that build the test binary to bin.
func (o Options) buildArgs(bin string) []string {
	args := []string{"test", "-c", "-o", bin}
	if o.Quick {
		// The vet pass and the debug info cost a fifth of the edit→verdict loop; `make test` still vets everything.
		args = append(args, "-vet=off", "-ldflags=-s -w")
	}
	if o.Race {
		args = append(args, "-race")
	}
	if len(o.Tags) > 0 {
		args = append(args, "-tags="+strings.Join(o.Tags, ","))
	}
	if o.Overlay != "" {
		args = append(args, "-overlay="+o.Overlay)
	}
	return append(args, o.Package)
}

// binaryPath is o.Binary, or the cache's name for the package built with o's settings.
func (o Options) binaryPath() string {
	if o.Binary != "" {
		return o.Binary
	}
	dir := o.CacheDir
	if dir == "" {
		dir = filepath.Join(o.Dir, ".msglabs", "cache")
	}
	sum := sha256.Sum256([]byte(strings.Join(append(o.buildArgs(""), o.Dir), "\x00")))
	base := filepath.Base(filepath.Clean(filepath.FromSlash(o.Package)))
	return filepath.Join(dir, base+"-"+hex.EncodeToString(sum[:4])+".test")
}

func firstLine(s, fallback string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return fallback
	}
	line, _, _ := strings.Cut(s, "\n")
	return line
}
