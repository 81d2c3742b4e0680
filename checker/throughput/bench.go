// Package throughput runs the kit's throughput benchmarks side by side and reports each solution's rate as a ratio to
// the raw amqp091-go baseline it should be compared with.
package throughput

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
)

// Pair says which benchmark is compared with which baseline, and how to name it in the report.
type Pair struct {
	Package   string // import path of the benchmark
	Benchmark string // e.g. "BenchmarkRelay"
	Label     string // what the row says
	Baseline  string // the Benchmark name of the raw baseline in shared/bench ("" for a baseline itself)
}

// BaselinePackage holds the raw amqp091-go baselines.
const BaselinePackage = "msglabs/shared/bench"

// Pairs are the rows of the report, in order.
var Pairs = []Pair{
	{BaselinePackage, "BenchmarkRawPublishConsume", "raw amqp091-go: publish (256 confirms outstanding) + manual-ack consume", ""},
	{"msglabs/labs/06-transactional-outbox", "BenchmarkRelay", "lab 6 solution: outbox relay (SKIP LOCKED batch, windowed confirms, delete)", "BenchmarkRawPublishConsume"},
	{BaselinePackage, "BenchmarkRawDrain", "raw amqp091-go: drain a full queue (prefetch 256, manual ack)", ""},
	{"msglabs/labs/07-competing-consumers", "BenchmarkDrain", "lab 7 solution: competing consumers draining a full queue", "BenchmarkRawDrain"},
}

// Packages are the packages the benchmarks live in, for `go test`.
func Packages() []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range Pairs {
		if !seen[p.Package] {
			seen[p.Package] = true
			out = append(out, p.Package)
		}
	}
	return out
}

// Rates maps package → benchmark name → msgs/s (the mean when a benchmark ran several times).
type Rates map[string]map[string]float64

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+.*?([\d.]+) msgs/s`)

// Parse reads `go test -bench` output and collects every msgs/s metric, by the "pkg:" header above it.
func Parse(r io.Reader) (Rates, error) {
	sums, counts := Rates{}, map[string]map[string]int{}
	pkg := ""
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			return nil, fmt.Errorf("parse %q: %w", line, err)
		}
		if sums[pkg] == nil {
			sums[pkg], counts[pkg] = map[string]float64{}, map[string]int{}
		}
		sums[pkg][m[1]] += v
		counts[pkg][m[1]]++
	}
	for pkg, byName := range sums {
		for name := range byName {
			byName[name] /= float64(counts[pkg][name])
		}
	}
	return sums, sc.Err()
}

// Report renders the table: each row's rate and, for a solution, its ratio to its baseline.
// It reports false when a row is missing.
func Report(rates Rates) (string, bool) {
	var b strings.Builder
	complete := true
	fmt.Fprintf(&b, "%-78s %10s %8s\n", "path (1 KiB persistent messages)", "msgs/s", "× raw")
	for _, p := range Pairs {
		v, ok := rates[p.Package][p.Benchmark]
		if !ok {
			complete = false
			fmt.Fprintf(&b, "%-78s %10s %8s\n", p.Label, "missing", "")
			continue
		}
		ratio := "1.00"
		if p.Baseline != "" {
			base, ok := rates[BaselinePackage][p.Baseline]
			if ok && base > 0 {
				ratio = fmt.Sprintf("%.2f", v/base)
			} else {
				ratio = "?"
			}
		}
		fmt.Fprintf(&b, "%-78s %10.0f %8s\n", p.Label, v, ratio)
	}
	return b.String(), complete
}
