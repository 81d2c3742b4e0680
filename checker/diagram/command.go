package diagram

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/term"
)

// Exit codes of the diagram command (the checker's: 0 ok, 2 usage or nothing to draw).
const (
	exitOK    = 0
	exitUsage = 2
)

// defaultWidth is used when the output is not a terminal and --width is not given.
const defaultWidth = 100

// Usage is the command's line in the checker's usage text.
const Usage = "diagram N [TEST] [--svg FILE] [--width W]   the last run of lab N as a sequence diagram"

// Command is `checker diagram N [TEST] [--svg FILE] [--width W] [--list]`: it draws a test of lab N's last run
// (the first failing one when TEST is not given) on the terminal, or writes it as SVG. root is the kit root.
func Command(ctx context.Context, root string, args []string, stdout, stderr io.Writer) int {
	return command(ctx, root, args, stdout, stderr, os.Getenv)
}

func command(_ context.Context, root string, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	fs := flag.NewFlagSet("checker diagram", flag.ContinueOnError)
	fs.SetOutput(stderr)
	svgFile := fs.String("svg", "", "write the diagram as SVG to this file instead of drawing it here")
	width := fs.Int("width", 0, "draw for this many columns (default: the terminal's width)")
	list := fs.Bool("list", false, "list the tests of the last run that can be drawn")
	pos, err := positionals(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if len(pos) < 1 || len(pos) > 2 {
		fmt.Fprintln(stderr, "checker diagram: want a lab number and optionally a test, e.g. `checker diagram 5`")
		return exitUsage
	}
	n, err := strconv.Atoi(strings.TrimPrefix(strings.ToLower(pos[0]), "lab-"))
	if err != nil || n <= 0 {
		fmt.Fprintf(stderr, "checker diagram: %q is not a lab number\n", pos[0])
		return exitUsage
	}
	runDir := RunDir(root, n)
	if *list {
		return listTests(runDir, n, stdout, stderr)
	}
	test := ""
	if len(pos) == 2 {
		test = pos[1]
	}
	r, err := pick(runDir, test)
	if err != nil {
		fmt.Fprintf(stderr, "checker diagram: %s\n", explain(err, n))
		return exitUsage
	}
	if *svgFile != "" {
		if err := writeSVGFile(r, *svgFile); err != nil {
			fmt.Fprintf(stderr, "checker diagram: %v\n", err)
			return exitUsage
		}
		fmt.Fprintf(stdout, "diagram of %s written to %s\n", r.Test, *svgFile)
		return exitOK
	}
	tty, cols := terminal(stdout)
	if *width > 0 {
		cols = *width
	}
	f := Terminal(Build(r), Options{Width: cols, Color: ColorAllowed(getenv, tty)})
	fmt.Fprintln(stdout, strings.Join(f.Lines(), "\n"))
	return exitOK
}

// WriteSVG writes the diagram of a test of a run directory to path: test, or the first failing test when test is "".
// It returns the run it drew. `checker run N --svg FILE` calls it after the run.
func WriteSVG(runDir, test, path string) (Run, error) {
	r, err := pick(runDir, test)
	if err != nil {
		return Run{}, err
	}
	return r, writeSVGFile(r, path)
}

func pick(runDir, test string) (Run, error) {
	if test == "" {
		return FirstFailing(runDir)
	}
	return LoadTest(runDir, test)
}

func writeSVGFile(r Run, path string) error {
	var buf bytes.Buffer
	if err := SVG(&buf, Build(r)); err != nil {
		return err
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write diagram: %w", err)
	}
	return nil
}

// explain words a loading error for the user, with what to do.
func explain(err error, n int) string {
	switch {
	case errors.Is(err, ErrNoEvents):
		return fmt.Sprintf("%v: run the lab first (`bin/checker run %d`), then draw it", err, n)
	case errors.Is(err, ErrNoFailure):
		return fmt.Sprintf("every test of lab %d's last run passed; name one to draw it (`bin/checker diagram %d --list`)", n, n)
	}
	return err.Error()
}

func listTests(runDir string, n int, stdout, stderr io.Writer) int {
	runs, err := LoadAll(runDir)
	if err != nil {
		fmt.Fprintf(stderr, "checker diagram: %s\n", explain(err, n))
		return exitUsage
	}
	for _, r := range runs {
		verdict := "passed"
		if r.Failed {
			verdict = "failed"
			if r.Marker != "" {
				verdict += " " + r.Marker
			}
		}
		fmt.Fprintf(stdout, "%s  %s\n", r.Test, verdict)
	}
	return exitOK
}

// terminal reports whether w is a terminal and its width (defaultWidth when it is not one). A writer that wraps the
// process's output (the checker's redacting writer) is judged by os.Stdout.
func terminal(w io.Writer) (bool, int) {
	f, ok := w.(*os.File)
	if !ok {
		f = os.Stdout
	}
	if !term.IsTerminal(int(f.Fd())) {
		return false, defaultWidth
	}
	cols, _, err := term.GetSize(int(f.Fd()))
	if err != nil || cols <= 0 {
		return true, defaultWidth
	}
	return true, cols
}

// positionals parses flags that may come before or after the positional arguments.
func positionals(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
