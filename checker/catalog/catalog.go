// Package catalog reads labs/labs.yaml, the one metadata source of the kit, and checks it against the files on disk.
package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// File is the path of the catalog, relative to the kit root.
const File = "labs/labs.yaml"

// Markers a lab failure can carry, in the order the docs list them.
var Markers = []string{"LOST", "DUPLICATE", "STALLED", "GHOST", "CROSSTALK"}

// IsMarker reports whether m is one of the lab failure markers (INFRA is not one).
func IsMarker(m string) bool {
	for _, k := range Markers {
		if k == m {
			return true
		}
	}
	return false
}

// Failing is a test that must fail in the shipped starter, with the marker its failure must carry.
type Failing struct {
	Test   string `yaml:"test" json:"test"`
	Marker string `yaml:"marker" json:"marker"`
}

// Sealed holds the git blob ids recorded by `checker seal`: test file → id and starter (edit) file → id.
type Sealed struct {
	Tests   map[string]string `yaml:"tests" json:"tests"`
	Starter map[string]string `yaml:"starter" json:"starter"`
}

// Lab is one entry of labs.yaml.
type Lab struct {
	Number  int       `yaml:"number" json:"number"`
	Slug    string    `yaml:"slug" json:"slug"`
	Package string    `yaml:"package" json:"package"`
	Title   string    `yaml:"title" json:"title"`
	Failure string    `yaml:"failure" json:"failure"`
	Summary string    `yaml:"summary" json:"summary,omitempty"`
	Edit    []string  `yaml:"edit" json:"edit,omitempty"`
	Failing []Failing `yaml:"failing" json:"failing,omitempty"`
	Hints   []string  `yaml:"hints" json:"hints,omitempty"`
	Sealed  Sealed    `yaml:"sealed" json:"sealed"`
}

// Dir is the lab's folder relative to the kit root, with forward slashes: labs/<slug>.
func (l Lab) Dir() string { return "labs/" + l.Slug }

// SolutionDir is the folder of the lab's reference solution relative to the kit root.
func (l Lab) SolutionDir() string { return "solutions/" + l.Slug }

// ImportPath is the lab's Go package path.
func (l Lab) ImportPath() string { return "msglabs/labs/" + l.Slug }

// FailingMarker returns the marker the named test must fail with, and whether it is expected to fail at all.
func (l Lab) FailingMarker(test string) (string, bool) {
	for _, f := range l.Failing {
		if f.Test == test {
			return f.Marker, true
		}
	}
	return "", false
}

// Catalog is the list of labs that exist on disk, in catalog order.
type Catalog struct {
	Root string // the kit root, absolute
	Labs []Lab  // labs whose folder exists and that passed validation
	All  []Lab  // every entry of labs.yaml
	// Broken holds, by lab number, the problems of labs whose folder exists but that are not usable (a lab in the
	// making, or a file gone missing). They are left out of Labs; verify and seal --check fail on them.
	Broken map[int][]string
}

// Problems lists every problem of the broken labs, in catalog order.
func (c *Catalog) Problems() []string {
	var out []string
	for _, l := range c.All {
		out = append(out, c.Broken[l.Number]...)
	}
	return out
}

// Lab returns the usable lab with the given number.
func (c *Catalog) Lab(n int) (Lab, error) {
	for _, l := range c.Labs {
		if l.Number == n {
			return l, nil
		}
	}
	if probs := c.Broken[n]; len(probs) > 0 {
		return Lab{}, fmt.Errorf("lab %d is not usable: %s", n, strings.Join(probs, "; "))
	}
	for _, l := range c.All {
		if l.Number == n {
			return Lab{}, fmt.Errorf("lab %d (%s) is not in this kit yet", n, l.Slug)
		}
	}
	return Lab{}, fmt.Errorf("there is no lab %d", n)
}

// Index returns the position of lab n in Labs, or -1.
func (c *Catalog) Index(n int) int {
	for i, l := range c.Labs {
		if l.Number == n {
			return i
		}
	}
	return -1
}

// Path returns the absolute path of a slash-separated path relative to the kit root.
func (c *Catalog) Path(rel string) string { return filepath.Join(c.Root, filepath.FromSlash(rel)) }

// ValidationError lists every problem found in labs.yaml.
type ValidationError struct {
	Problems []string
}

func (e *ValidationError) Error() string {
	return File + " is invalid:\n  " + strings.Join(e.Problems, "\n  ")
}

type document struct {
	Labs []Lab `yaml:"labs"`
}

// Parse decodes labs.yaml and checks what can be checked without the files: numbers, slugs, markers.
func Parse(data []byte) ([]Lab, error) {
	var doc document
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("parse %s: %w", File, err)
	}
	var probs []string
	numbers, slugs := map[int]bool{}, map[string]bool{}
	for i, l := range doc.Labs {
		where := fmt.Sprintf("entry %d", i+1)
		if l.Slug != "" {
			where = fmt.Sprintf("lab %q", l.Slug)
		}
		if l.Number <= 0 {
			probs = append(probs, where+": number must be a positive integer")
		} else if numbers[l.Number] {
			probs = append(probs, fmt.Sprintf("%s: number %d is used twice", where, l.Number))
		}
		numbers[l.Number] = true
		if l.Slug == "" || strings.ContainsAny(l.Slug, `/\ `) {
			probs = append(probs, where+": slug must be a folder name under labs/")
		} else if slugs[l.Slug] {
			probs = append(probs, where+": slug is used twice")
		}
		slugs[l.Slug] = true
		if l.Title == "" {
			probs = append(probs, where+": title is missing")
		}
		if l.Failure != "" && !IsMarker(l.Failure) {
			probs = append(probs, fmt.Sprintf("%s: unknown failure %q (want one of %s)", where, l.Failure, strings.Join(Markers, ", ")))
		}
		tests := map[string]bool{}
		for _, f := range l.Failing {
			if !strings.HasPrefix(f.Test, "Test") {
				probs = append(probs, fmt.Sprintf("%s: failing test %q is not a test name", where, f.Test))
			}
			if tests[f.Test] {
				probs = append(probs, fmt.Sprintf("%s: failing test %s is listed twice", where, f.Test))
			}
			tests[f.Test] = true
			if !IsMarker(f.Marker) {
				probs = append(probs, fmt.Sprintf("%s: failing test %s has unknown marker %q (want one of %s)",
					where, f.Test, f.Marker, strings.Join(Markers, ", ")))
			}
		}
		for _, e := range l.Edit {
			if e == "" || strings.ContainsAny(e, `/\`) || strings.HasSuffix(e, "_test.go") {
				probs = append(probs, fmt.Sprintf("%s: edit entry %q must be a non-test file name in labs/%s/", where, e, l.Slug))
			}
		}
	}
	if len(probs) > 0 {
		return nil, &ValidationError{Problems: probs}
	}
	return doc.Labs, nil
}

var testFunc = regexp.MustCompile(`(?m)^func (Test\w*)\(`)

// Load reads labs.yaml under root. A malformed file is an error. Labs without a folder are left out; a lab whose
// folder exists is checked against the files (edit files exist, it has tests, the failing tests are declared in
// them), and one that fails the check is left out of Labs and recorded in Broken.
func Load(root string) (*Catalog, error) {
	data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(File)))
	if err != nil {
		return nil, fmt.Errorf("read catalog: %w", err)
	}
	all, err := Parse(data)
	if err != nil {
		return nil, err
	}
	c := &Catalog{Root: root, All: all, Broken: map[int][]string{}}
	for _, l := range all {
		dir := c.Path(l.Dir())
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			continue
		}
		if probs := checkOnDisk(dir, l); len(probs) > 0 {
			c.Broken[l.Number] = probs
			continue
		}
		c.Labs = append(c.Labs, l)
	}
	return c, nil
}

func checkOnDisk(dir string, l Lab) []string {
	var probs []string
	if !IsMarker(l.Failure) {
		probs = append(probs, fmt.Sprintf("lab %q: failure must be one of %s", l.Slug, strings.Join(Markers, ", ")))
	}
	if len(l.Edit) == 0 {
		probs = append(probs, fmt.Sprintf("lab %q: edit lists no files", l.Slug))
	}
	if len(l.Failing) == 0 {
		probs = append(probs, fmt.Sprintf("lab %q: failing lists no tests", l.Slug))
	}
	for _, e := range l.Edit {
		if _, err := os.Stat(filepath.Join(dir, e)); err != nil {
			probs = append(probs, fmt.Sprintf("lab %q: edit file %s/%s is missing (fix: git checkout -- %s/%s)", l.Slug, l.Dir(), e, l.Dir(), e))
		}
	}
	testFiles, err := TestFiles(dir)
	if err != nil {
		return append(probs, fmt.Sprintf("lab %q: %v", l.Slug, err))
	}
	if len(testFiles) == 0 {
		return append(probs, fmt.Sprintf("lab %q: %s has no *_test.go file", l.Slug, l.Dir()))
	}
	declared := map[string]bool{}
	for _, f := range testFiles {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			probs = append(probs, fmt.Sprintf("lab %q: %v", l.Slug, err))
			continue
		}
		for _, m := range testFunc.FindAllSubmatch(data, -1) {
			declared[string(m[1])] = true
		}
	}
	for _, f := range l.Failing {
		if !declared[f.Test] {
			probs = append(probs, fmt.Sprintf("lab %q: failing test %s is not declared in %s/*_test.go", l.Slug, f.Test, l.Dir()))
		}
	}
	return probs
}

// TestFiles returns the names of the *_test.go files in dir, sorted.
func TestFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list tests: %w", err)
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), "_test.go") {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}

// FindRoot walks up from dir to the directory whose go.mod declares module msglabs.
func FindRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("find kit root: %w", err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if data, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && moduleName(data) == "msglabs" {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", errors.New("not inside the msglabs kit: no go.mod with `module msglabs` above " + dir)
		}
	}
}

func moduleName(gomod []byte) string {
	for _, line := range strings.Split(string(gomod), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`)
		}
	}
	return ""
}
