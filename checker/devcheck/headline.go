package devcheck

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"msglabs/checker/gotest"
	"msglabs/checker/lab"
	"msglabs/checker/readme"
	"msglabs/checker/verify"
)

// ErrInfra says that a lab's tests could not reach RabbitMQ or PostgreSQL: no headline could be read.
var ErrInfra = errors.New("the lab's services were not reachable")

// parallel is how many labs run their starters at once: the kit is checked on a two-core machine.
const parallel = 2

// Headlines runs each step's failing tests against the state before that step (the shipped starter for step 1; the
// step-wise solutions for later steps) and returns what each failure's headline line says, by test:
// "DUPLICATE: order o-1 was charged 2 times …". A test that passed, or failed without a marker, is left out.
func Headlines(ctx context.Context, c *lab.Catalog, l lab.Lab, env []string) (map[string]string, error) {
	tmp, err := os.MkdirTemp("", "msglabs-headline-")
	if err != nil {
		return nil, fmt.Errorf("headlines: %w", err)
	}
	defer os.RemoveAll(tmp)
	out := map[string]string{}
	for k, s := range l.Steps {
		if len(s.Failing) == 0 {
			continue
		}
		replace, err := verify.StarterOverlay(ctx, c, l, filepath.Join(tmp, fmt.Sprint(k)))
		if err != nil {
			return nil, err
		}
		var tags []string
		for f, src := range l.StateAfter(k) {
			if src != "" {
				replace[c.Path(path.Join(l.Dir(), f))] = c.Path(src)
				tags = []string{"solution"}
			}
		}
		overlay, err := verify.WriteOverlay(tmp, fmt.Sprintf("step-%d.json", k+1), replace)
		if err != nil {
			return nil, err
		}
		var names []string
		for _, f := range s.Failing {
			names = append(names, f.Test)
		}
		rep, err := gotest.Run(ctx, gotest.Options{
			Dir: c.Root, Package: "./" + l.Dir() + "/", LabDir: l.Dir(), Env: env, Overlay: overlay, Tags: tags,
			Run: "^(" + strings.Join(names, "|") + ")$", Quick: true,
		}, nil)
		if err != nil {
			return nil, fmt.Errorf("run %s step %d: %w", l.Slug, k+1, err)
		}
		if rep.Kind() == gotest.InfraError {
			return nil, fmt.Errorf("%w: %s", ErrInfra, firstLine(rep.Infra))
		}
		maps.Copy(out, verify.Headlines(rep, names))
	}
	return out, nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

// allHeadlines runs Headlines for the labs, two at a time, calling got for each lab in turn.
func allHeadlines(ctx context.Context, c *lab.Catalog, labs []lab.Lab, env []string, got func(lab.Lab, map[string]string, error)) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallel)
	for _, l := range labs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			h, err := Headlines(ctx, c, l, env)
			mu.Lock()
			defer mu.Unlock()
			got(l, h, err)
		}()
	}
	wg.Wait()
}

// headlines compares every annotated output of the lab READMEs with what the starter really prints.
func (k *checker) headlines(ctx context.Context) {
	type result struct {
		real map[string]string
		err  error
	}
	results := map[int]result{}
	allHeadlines(ctx, k.c, k.labs, k.o.Env, func(l lab.Lab, h map[string]string, err error) {
		results[l.Number] = result{h, err}
	})
	for _, l := range k.labs {
		r := results[l.Number]
		rel := path.Join(l.Dir(), "README.md")
		if r.err != nil {
			p := Problem{Rule: RuleHeadline, File: rel, What: "could not read the starter's headlines: " + r.err.Error(),
				Pending: !k.o.enforced(RuleHeadline), Infra: errors.Is(r.err, ErrInfra)}
			if p.Infra {
				p.Fix = "make up, or set MSGLABS_AMQP_URL and MSGLABS_DATABASE_URL; make doctor says what is missing"
			}
			k.out = append(k.out, p)
			continue
		}
		data, ok := k.read(rel)
		if !ok {
			continue
		}
		failing := func(test string) bool { _, ok := l.FailingMarker(test); return ok }
		for _, o := range readme.StaleOutputs(data, r.real, failing) {
			if o.Real == "" {
				k.add(RuleHeadline, rel, "go run ./checker verify "+fmt.Sprint(l.Number)+" says why",
					"%s did not fail with a marker before its step, so its headline cannot be checked", o.Test)
				continue
			}
			k.add(RuleHeadline, fmt.Sprintf("%s:%d", rel, o.Line), "go run ./checker dev readme",
				"%s's headline differs from what the starter prints:\n      README:  %s\n      starter: %s", o.Test, o.Headline, o.Real)
		}
	}
}

// WriteHeadlines runs the starters of the labs and writes each annotated output's headline into their READMEs.
// It returns the READMEs it changed; an INFRA failure stops it (ErrInfra).
func WriteHeadlines(ctx context.Context, c *lab.Catalog, labs []lab.Lab, env []string) ([]string, error) {
	var changed []string
	var errs []error
	allHeadlines(ctx, c, labs, env, func(l lab.Lab, real map[string]string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("lab %d: %w", l.Number, err))
			return
		}
		rel := path.Join(l.Dir(), "README.md")
		data, readErr := os.ReadFile(c.Path(rel))
		if readErr != nil {
			errs = append(errs, readErr)
			return
		}
		out := readme.SetOutputs(data, real)
		if string(out) == string(data) {
			return
		}
		if err := os.WriteFile(c.Path(rel), out, 0o644); err != nil {
			errs = append(errs, err)
			return
		}
		changed = append(changed, rel)
	})
	return changed, errors.Join(errs...)
}
