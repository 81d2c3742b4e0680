package verify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"msglabs/checker/lab"
	"msglabs/checker/seal"
)

// BuildLine is the first line of every solution file.
const BuildLine = "//go:build solution"

// overlays writes the `go test -overlay` files of one lab's variants into tmp. Its methods are used by one
// goroutine.
type overlays struct {
	c       *lab.Catalog
	l       lab.Lab
	tmp     string
	shipped map[string]string // the shipped lab package: absolute lab path → replacement ("" deletes it)
}

// StarterOverlay returns the overlay (absolute lab path → replacement path, "" for deleted) that puts the shipped
// lab package in place of whatever the attendee changed: every sealed .go file of the lab folder (starter, tests,
// helpers) as shipped, and no .go file the kit did not ship. Replacement files are written under tmp.
func StarterOverlay(ctx context.Context, c *lab.Catalog, l lab.Lab, tmp string) (map[string]string, error) {
	dir := c.Path(l.Dir())
	replace := map[string]string{}
	for _, f := range packageFiles(l) {
		p := filepath.Join(dir, filepath.FromSlash(f))
		data, err := seal.Shipped(ctx, c, l, f)
		if err != nil {
			return nil, fmt.Errorf("the starter cannot be checked without touching your copy: %w", err)
		}
		if cur, err := os.ReadFile(p); err == nil && bytes.Equal(cur, data) {
			continue
		}
		repl := filepath.Join(tmp, "shipped", filepath.FromSlash(f))
		if err := writeFile(repl, data); err != nil {
			return nil, err
		}
		replace[p] = repl
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", l.Dir(), err)
	}
	sealed := map[string]bool{}
	for _, f := range packageFiles(l) {
		sealed[f] = true
	}
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".go") && !sealed[e.Name()] {
			replace[filepath.Join(dir, e.Name())] = "" // a Go file the kit did not ship does not take part
		}
	}
	return replace, nil
}

// packageFiles are the sealed .go files directly in the lab folder: the files of the lab's package.
func packageFiles(l lab.Lab) []string {
	var out []string
	for _, m := range []map[string]string{l.Sealed.Starter, l.Sealed.Tests, l.Sealed.Lab} {
		for f := range m {
			if strings.HasSuffix(f, ".go") && !strings.Contains(f, "/") {
				out = append(out, f)
			}
		}
	}
	sort.Strings(out)
	return out
}

// SolutionOverlay adds to replace the solution of each edit file: labs/<slug>/<file> ← solutions/<slug>/<file>.
func SolutionOverlay(c *lab.Catalog, l lab.Lab, tmp string, replace map[string]string) error {
	for _, f := range l.Edit {
		src, err := solutionFile(c, path.Join(l.SolutionDir(), f))
		if err != nil {
			return err
		}
		replace[filepath.Join(c.Path(l.Dir()), f)] = src
	}
	return nil
}

// solutionFile checks that the solution file rel (relative to the root) exists and starts with the build line.
func solutionFile(c *lab.Catalog, rel string) (string, error) {
	src := c.Path(rel)
	data, err := os.ReadFile(src)
	if err != nil {
		return "", fmt.Errorf("solution file %s: %w", rel, err)
	}
	if !bytes.HasPrefix(data, []byte(BuildLine)) {
		return "", fmt.Errorf("%s must start with %q", rel, BuildLine)
	}
	return src, nil
}

// starter is the overlay file of the shipped starter.
func (v *overlays) starter() (string, error) {
	return writeOverlay(v.tmp, "starter.json", v.shipped)
}

// stateAfter is the overlay file of "the state after step k" (D1): each edit file as shipped, as a step-J
// snapshot or as the final solution.
func (v *overlays) stateAfter(k int) (string, error) {
	replace, err := v.stateAfterMap(k)
	if err != nil {
		return "", err
	}
	return writeOverlay(v.tmp, fmt.Sprintf("state-%d.json", k), replace)
}

// stateAfterMap is stateAfter's replacements.
func (v *overlays) stateAfterMap(k int) (map[string]string, error) {
	replace := v.copyShipped()
	for f, src := range v.l.StateAfter(k) {
		if src == "" {
			continue // the shipped starter, already in place
		}
		abs, err := solutionFile(v.c, src)
		if err != nil {
			return nil, err
		}
		replace[filepath.Join(v.c.Path(v.l.Dir()), f)] = abs
	}
	return replace, nil
}

// planted is the overlay file of the state after step k with planted bug name in place: each file of
// <lab>/testdata/planted/<name>/, as shipped, replaces the lab's file of the same name.
func (v *overlays) planted(ctx context.Context, k int, name string) (string, error) {
	replace, err := v.stateAfterMap(k)
	if err != nil {
		return "", err
	}
	found, err := v.sealedFixtures(ctx, path.Join(lab.PlantedDir, name), "planted-"+name, replace)
	if err != nil {
		return "", err
	}
	if found == 0 {
		return "", fmt.Errorf("planted bug %s has no sealed file in %s/%s/%s", name, v.l.Dir(), lab.PlantedDir, name)
	}
	return writeOverlay(v.tmp, fmt.Sprintf("planted-%s-after-%d.json", name, k), replace)
}

// solution is the overlay file of the final solution.
func (v *overlays) solution() (string, error) {
	replace := v.copyShipped()
	if err := SolutionOverlay(v.c, v.l, v.tmp, replace); err != nil {
		return "", err
	}
	return writeOverlay(v.tmp, "solution.json", replace)
}

// mistake is the overlay file of mistake m: the final solution with the fixture's files in place of the edit files
// it contains (D1: labs/NN-slug/testdata/mistakes/<name>/<edit file>), as shipped.
func (v *overlays) mistake(ctx context.Context, m lab.Mistake) (string, error) {
	replace := v.copyShipped()
	if err := SolutionOverlay(v.c, v.l, v.tmp, replace); err != nil {
		return "", err
	}
	prefix := path.Join(lab.MistakesDir, m.Name)
	found, err := v.sealedFixtures(ctx, prefix, path.Join("mistakes", m.Name), replace)
	if err != nil {
		return "", err
	}
	if found == 0 {
		return "", fmt.Errorf("mistake %s has no sealed fixture in %s/%s/", m.Name, v.l.Dir(), prefix)
	}
	return writeOverlay(v.tmp, "mistake-"+m.Name+".json", replace)
}

// sealedFixtures adds to replace each sealed .go file of the lab folder's dir (relative, slashes), as shipped and
// copied under tmp/into, in place of the lab's file of the same name. It returns how many it added.
func (v *overlays) sealedFixtures(ctx context.Context, dir, into string, replace map[string]string) (int, error) {
	found := 0
	for f := range v.l.Sealed.Lab {
		name, ok := strings.CutPrefix(f, dir+"/")
		if !ok || !strings.HasSuffix(name, ".go") || strings.Contains(name, "/") {
			continue
		}
		data, err := seal.Shipped(ctx, v.c, v.l, f)
		if err != nil {
			return found, err
		}
		repl := filepath.Join(v.tmp, filepath.FromSlash(into), name)
		if err := writeFile(repl, data); err != nil {
			return found, err
		}
		replace[filepath.Join(v.c.Path(v.l.Dir()), name)] = repl
		found++
	}
	return found, nil
}

func (v *overlays) copyShipped() map[string]string {
	out := make(map[string]string, len(v.shipped))
	for k, val := range v.shipped {
		out[k] = val
	}
	return out
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
	p := filepath.Join(tmp, name)
	if err := writeFile(p, data); err != nil {
		return "", err
	}
	return p, nil
}

func writeFile(p string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}
