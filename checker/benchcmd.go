package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"

	"msglabs/checker/kit"
	"msglabs/checker/throughput"
	"msglabs/checker/verify"
)

// benchLabs are the labs whose solutions are benchmarked.
var benchLabs = []int{6, 7}

// cmdBench runs the raw baselines and the lab 6 and 7 solutions' benchmarks in one `go test` (one package at a time,
// so they do not share the CPU) and prints msgs/s with each solution's ratio to its raw baseline.
func (a *app) cmdBench(ctx context.Context, args []string) int {
	fs := a.flags("bench")
	count := fs.Int("count", 1, "how many times each benchmark runs (the report shows the mean)")
	if _, err := parse(fs, args); err != nil {
		return usageErr(err)
	}
	k, ok := a.open()
	if !ok {
		return exitEnv
	}
	eps, ok := a.resolveInfra(ctx)
	if !ok {
		return exitEnv
	}
	tmp, err := os.MkdirTemp("", "msglabs-bench-")
	if err != nil {
		fmt.Fprintf(a.stderr, "checker bench: %v\n", err)
		return exitEnv
	}
	defer os.RemoveAll(tmp)
	replace := map[string]string{}
	for _, n := range benchLabs {
		l, err := k.Catalog.Lab(n)
		if err == nil {
			err = verify.SolutionOverlay(k.Catalog, l, tmp, replace)
		}
		if err != nil {
			fmt.Fprintf(a.stderr, "checker bench: lab %d: %v\n", n, err)
			return exitEnv
		}
	}
	overlay, err := verify.WriteOverlay(tmp, "bench-overlay.json", replace)
	if err != nil {
		fmt.Fprintf(a.stderr, "checker bench: %v\n", err)
		return exitEnv
	}
	goArgs := append([]string{"test", "-p", "1", "-run", "^$", "-bench", ".", "-benchtime", "1x",
		"-count", strconv.Itoa(*count), "-tags", "solution", "-overlay", overlay}, throughput.Packages()...)
	cmd := exec.CommandContext(ctx, "go", goArgs...)
	cmd.Dir = k.Catalog.Root
	cmd.Env = append(os.Environ(), kit.TestEnv(eps, "")...)
	var out bytes.Buffer
	cmd.Stdout = io.MultiWriter(&out, a.stderr)
	cmd.Stderr = a.stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(a.stderr, "checker bench: go test: %v\n", err)
		return exitFailing
	}
	rates, err := throughput.Parse(&out)
	if err != nil {
		fmt.Fprintf(a.stderr, "checker bench: %v\n", err)
		return exitFailing
	}
	report, complete := throughput.Report(rates)
	fmt.Fprint(a.stdout, "\n"+report)
	if !complete {
		return exitFailing
	}
	return exitOK
}
