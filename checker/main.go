// Command checker is the workshop's lab runner: it lists the labs, runs one against your code and explains the
// failure, gives hints, shows solutions once earned, resets a lab, checks your machine, and verifies the kit itself.
//
// Exit codes: 0 ok, 1 a lab (or the kit's self-test) is failing, 2 an environment, INFRA or usage problem (nothing is
// recorded), 3 a run that is not counted (a sealed test did not run, or sealed files differ from labs/labs.sum).
package main

import (
	"io"
	"os"
)

// openTUI, when set (by the TUI's file), takes over a bare `checker` on a terminal. It returns the exit code.
var openTUI func(a *app) int

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole command line, testable: it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	return newApp(stdout, stderr).main(args)
}
