package gotest

import (
	"cmp"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// DefaultProcesses is a good Options.Processes for the attendee's loop on a two-core laptop: a lab has two to five
// tests, and they wait far more than they compute.
const DefaultProcesses = 4

// execParallel runs each of o.Tests in a binary of its own, o.Processes at once, and merges what they said into
// one report in the order of o.Tests. onEvent calls are serialized. The full output goes to RunDir/last.log, one
// test after another.
func execParallel(ctx context.Context, bin string, o Options, onEvent func(Event)) (*Report, error) {
	start := time.Now()
	var mu sync.Mutex
	serial := func(ev Event) {
		if ev.Kind == Built {
			return // said once, by Exec
		}
		mu.Lock()
		defer mu.Unlock()
		onEvent(ev)
	}
	reps := make([]*Report, len(o.Tests))
	errs := make([]error, len(o.Tests))
	parts := make([]string, len(o.Tests))
	if o.RunDir != "" {
		for i, test := range o.Tests {
			parts[i] = filepath.Join(o.RunDir, "."+LogName+"."+safeName(test))
		}
	}
	next := make(chan int, len(o.Tests))
	for _, i := range startOrder(o.Tests, o.Took) {
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	for range min(o.Processes, len(o.Tests)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := ctx.Err(); err != nil {
					errs[i] = err
					continue
				}
				one := o
				one.Tests = []string{o.Tests[i]}
				reps[i], errs[i] = exec1(ctx, bin, one, serial, parts[i])
			}
		}()
	}
	wg.Wait()
	rep := merge(o.Tests, reps)
	rep.Elapsed = time.Since(start)
	if o.RunDir != "" {
		rep.LogPath = joinLogs(filepath.Join(o.RunDir, LogName), parts)
	}
	for _, err := range errs {
		if err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// startOrder returns the indexes of tests in the order they start: those that took longest before first, then
// those never timed, in the order given (a stable sort, so equal times keep it too).
func startOrder(tests []string, took map[string]time.Duration) []int {
	order := make([]int, len(tests))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		ta, okA := took[tests[a]]
		tb, okB := took[tests[b]]
		switch {
		case okA && okB:
			return cmp.Compare(tb, ta)
		case okA:
			return -1
		case okB:
			return 1
		}
		return 0
	})
	return order
}

// merge makes one report of the reports of single-test runs: each run's results for its own test (and subtests),
// in the order of tests, and the first of each finding in that order.
func merge(tests []string, reps []*Report) *Report {
	out := &Report{Tests: []Result{}}
	var stderr []string
	for i, r := range reps {
		if r == nil {
			continue
		}
		for _, t := range r.Tests {
			if t.Name == tests[i] || strings.HasPrefix(t.Name, tests[i]+"/") {
				out.Tests = append(out.Tests, t)
			}
		}
		if out.Package == "" {
			out.Package = r.Package
		}
		out.Build = append(out.Build, r.Build...)
		out.Timeout = append(out.Timeout, r.Timeout...)
		out.NotRun = append(out.NotRun, r.NotRun...)
		out.Output = append(out.Output, r.Output...)
		if r.Stderr != "" {
			stderr = append(stderr, r.Stderr)
		}
		out.Race = out.Race || r.Race
		out.PackageFail = out.PackageFail || r.PackageFail
		if out.Panic == nil {
			out.Panic = r.Panic
		}
		if out.Infra == "" {
			out.Infra = r.Infra
		}
		if out.Hang == nil {
			out.Hang = r.Hang
		}
		if out.Exit == nil {
			out.Exit = r.Exit
		}
	}
	out.Stderr = strings.Join(stderr, "\n")
	return out
}

// safeName makes a test name usable in a file name.
func safeName(test string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == os.PathSeparator {
			return '_'
		}
		return r
	}, test)
}
