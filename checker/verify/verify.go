package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"msglabs/checker/gotest"
	"msglabs/checker/lab"
	"msglabs/checker/seal"
)

// BuildLine is the first line of every solution file.
const BuildLine = "//go:build solution"

// Options tune a verification.
type Options struct {
	Count   int           // -count of the solution run; 0 means 1
	Env     []string      // MSGLABS_* variables for the tests
	Timeout time.Duration // per-run -timeout; the solution run gets Count times as much
	Strict  bool          // CI: the lab's files must equal their seal exactly
	// OnEvent, when set, sees the test events of both runs; phase is "starter" or "solution".
	OnEvent func(l lab.Lab, phase string, ev gotest.Event)
}

// Result is the verification of one lab.
type Result struct {
	Number   int      `json:"number"`
	Slug     string   `json:"slug"`
	Verified bool     `json:"verified"`
	Starter  Starter  `json:"starter"`
	Solution Solution `json:"solution"`
	Seconds  float64  `json:"seconds"`
	Reason   string   `json:"reason,omitempty"` // why the lab is not verified
	Error    string   `json:"error,omitempty"`  // the lab could not be verified at all (missing blob, go failed)
	Infra    bool     `json:"infra,omitempty"`  // RabbitMQ or PostgreSQL was unreachable
}

// Lab verifies one lab: the shipped starter fails as declared, and the solution passes with -race.
func Lab(ctx context.Context, c *lab.Catalog, l lab.Lab, o Options) Result {
	start := time.Now()
	res := Result{Number: l.Number, Slug: l.Slug, Starter: Starter{FailedTests: []string{}, Markers: map[string]string{}}}
	if err := verifyLab(ctx, c, l, o, &res); err != nil {
		res.Error = err.Error()
	}
	res.Verified = res.Error == "" && res.Reason == "" && !res.Infra
	res.Seconds = roundSeconds(time.Since(start))
	return res
}

func verifyLab(ctx context.Context, c *lab.Catalog, l lab.Lab, o Options, res *Result) error {
	if len(l.Sealed.Tests) == 0 || len(l.Sealed.Starter) == 0 {
		return fmt.Errorf("%s is not sealed; fix: go run ./checker seal", l.Slug)
	}
	if o.Strict {
		stale, err := seal.CheckLab(ctx, c, l, true)
		if err != nil {
			return err
		}
		if len(stale) > 0 {
			return fmt.Errorf("seal is stale (%s); fix: go run ./checker seal", stale[0])
		}
	}
	tmp, err := os.MkdirTemp("", "msglabs-verify-")
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	defer os.RemoveAll(tmp)

	shipped, err := StarterOverlay(ctx, c, l, tmp)
	if err != nil {
		return err
	}
	starterOverlay, err := writeOverlay(tmp, "starter.json", shipped)
	if err != nil {
		return err
	}
	solved := map[string]string{}
	for k, v := range shipped {
		solved[k] = v
	}
	if err := SolutionOverlay(c, l, tmp, solved); err != nil {
		return err
	}
	solutionOverlay, err := writeOverlay(tmp, "solution.json", solved)
	if err != nil {
		return err
	}

	base := gotest.Options{Dir: c.Root, Package: "./" + l.Dir() + "/", LabDir: l.Dir(), Env: o.Env, Timeout: o.Timeout}
	on := func(phase string) func(gotest.Event) {
		if o.OnEvent == nil {
			return nil
		}
		return func(ev gotest.Event) { o.OnEvent(l, phase, ev) }
	}

	so := base
	so.Overlay = starterOverlay
	rep, err := gotest.Run(ctx, so, on("starter"))
	if err != nil {
		return fmt.Errorf("starter run: %w", err)
	}
	res.Starter = Summarize(rep)
	if rep.Kind() == gotest.InfraError {
		res.Infra = true
		res.Reason = "INFRA: " + firstLine(rep.Infra)
		return nil
	}
	var reasons []string
	if why := JudgeStarter(l, rep); why != "" {
		reasons = append(reasons, why)
	}

	count := max(o.Count, 1)
	po := base
	po.Overlay, po.Tags, po.Race, po.Count = solutionOverlay, []string{"solution"}, true, count
	if base.Timeout > 0 {
		po.Timeout = base.Timeout * time.Duration(count)
	} else {
		po.Timeout = gotest.DefaultTimeout * time.Duration(count)
	}
	rep, err = gotest.Run(ctx, po, on("solution"))
	if err != nil {
		return fmt.Errorf("solution run: %w", err)
	}
	if rep.Kind() == gotest.InfraError {
		res.Infra = true
		res.Reason = "INFRA: " + firstLine(rep.Infra)
		return nil
	}
	why := JudgeSolution(rep)
	res.Solution.Passed = why == ""
	if why != "" {
		reasons = append(reasons, why)
	}
	res.Reason = strings.Join(reasons, "; ")
	return nil
}

// StarterOverlay returns the overlay (absolute lab path → replacement path, "" for deleted) that puts the shipped
// starter and tests in place of any file the attendee changed. Replacement files are written under tmp.
func StarterOverlay(ctx context.Context, c *lab.Catalog, l lab.Lab, tmp string) (map[string]string, error) {
	dir := c.Path(l.Dir())
	replace := map[string]string{}
	files := append([]string{}, l.Edit...)
	for f := range l.Sealed.Tests {
		files = append(files, f)
	}
	for _, f := range files {
		path := filepath.Join(dir, f)
		id, ok := l.Sealed.Starter[f]
		if !ok {
			id = l.Sealed.Tests[f]
		}
		if id == "" {
			return nil, fmt.Errorf("%s/%s is not sealed; fix: go run ./checker seal", l.Dir(), f)
		}
		if cur, err := seal.FileBlobID(path); err == nil && cur == id {
			continue
		}
		data, err := seal.GitBlob(ctx, c.Root, id)
		if err != nil {
			return nil, fmt.Errorf("the shipped %s/%s (blob %s) is not in git, so the starter cannot be checked without touching your copy: %w",
				l.Dir(), f, id, err)
		}
		repl := filepath.Join(tmp, "starter", f)
		if err := writeFile(repl, data); err != nil {
			return nil, err
		}
		replace[path] = repl
	}
	// A test file the kit did not ship does not take part.
	tests, err := lab.TestFiles(dir)
	if err != nil {
		return nil, err
	}
	for _, f := range tests {
		if _, ok := l.Sealed.Tests[f]; !ok {
			replace[filepath.Join(dir, f)] = ""
		}
	}
	return replace, nil
}

// SolutionOverlay adds to replace the solution of each edit file: labs/<slug>/<file> ← solutions/<slug>/<file>.
func SolutionOverlay(c *lab.Catalog, l lab.Lab, tmp string, replace map[string]string) error {
	for _, f := range l.Edit {
		src := filepath.Join(c.Path(l.SolutionDir()), f)
		data, err := os.ReadFile(src)
		if err != nil {
			return fmt.Errorf("solution file %s/%s: %w", l.SolutionDir(), f, err)
		}
		if !bytes.HasPrefix(data, []byte(BuildLine)) {
			return fmt.Errorf("%s/%s must start with %q", l.SolutionDir(), f, BuildLine)
		}
		replace[filepath.Join(c.Path(l.Dir()), f)] = src
	}
	return nil
}

// WriteOverlay writes a `go test -overlay` file named name in tmp that replaces each key of replace with its value.
func WriteOverlay(tmp, name string, replace map[string]string) (string, error) {
	return writeOverlay(tmp, name, replace)
}

func writeOverlay(tmp, name string, replace map[string]string) (string, error) {
	data, err := json.Marshal(struct{ Replace map[string]string }{replace})
	if err != nil {
		return "", fmt.Errorf("overlay: %w", err)
	}
	path := filepath.Join(tmp, name)
	if err := writeFile(path, data); err != nil {
		return "", err
	}
	return path, nil
}

func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Summary is the whole verification.
type Summary struct {
	Verified bool     `json:"verified"`
	Labs     []Result `json:"labs"`
	Problems []string `json:"problems,omitempty"` // lab.yaml problems of labs that could not be verified at all
	Error    string   `json:"error,omitempty"`
}

// Infra reports whether any lab could not reach its services.
func (s Summary) Infra() bool {
	for _, r := range s.Labs {
		if r.Infra {
			return true
		}
	}
	return false
}

// All verifies the labs one after another (their tests share the broker), calling onLab after each. It stops at
// the first INFRA result, since every later lab would fail the same way, or when ctx is done.
func All(ctx context.Context, c *lab.Catalog, labs []lab.Lab, o Options, onLab func(Result)) Summary {
	sum := Summary{Verified: len(labs) > 0, Labs: []Result{}}
	if len(labs) == 0 {
		sum.Error = "no labs to verify"
	}
	for _, l := range labs {
		if err := ctx.Err(); err != nil {
			sum.Verified = false
			sum.Error = fmt.Errorf("verify interrupted: %w", err).Error()
			break
		}
		r := Lab(ctx, c, l, o)
		sum.Labs = append(sum.Labs, r)
		sum.Verified = sum.Verified && r.Verified
		if onLab != nil {
			onLab(r)
		}
		if r.Infra {
			break
		}
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		sum.Verified = false
	}
	return sum
}

func roundSeconds(d time.Duration) float64 {
	return float64(d.Round(100*time.Millisecond)) / float64(time.Second)
}
