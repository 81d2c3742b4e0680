package lab

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// LabsDir is the folder holding one folder per lab, relative to the kit root.
const LabsDir = "labs"

// folderName is a lab folder's name: a two-digit number, a dash, a slug of lower-case words.
var folderName = regexp.MustCompile(`^([0-9]{2})-[a-z0-9]+(-[a-z0-9]+)*$`)

// mistakeName is a mistake's name: lower-case words joined by dashes (it names a folder).
var mistakeName = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// Catalog is every lab of a kit checkout, in number order.
type Catalog struct {
	Root string // the kit root, absolute
	Labs []Lab  // labs that passed validation
	// Broken holds, by lab number, the problems of lab folders that are not usable (a lab in the making, or a file
	// gone missing). They are left out of Labs; verify and seal --check fail on them.
	Broken map[int][]string
	// Strays are problems of folders under labs/ that are not lab folders at all (a name without its number).
	Strays []string
	// Sum holds the lines of labs/labs.sum; nil when the file does not exist yet.
	Sum []Entry
}

// Problems lists every problem of the broken labs, in number order, then the strays.
func (c *Catalog) Problems() []string {
	nums := make([]int, 0, len(c.Broken))
	for n := range c.Broken {
		nums = append(nums, n)
	}
	sort.Ints(nums)
	var out []string
	for _, n := range nums {
		out = append(out, c.Broken[n]...)
	}
	return append(out, c.Strays...)
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

// Shared returns the sealed blob ids of the files under shared/, keyed by their path relative to the kit root.
func (c *Catalog) Shared() map[string]string {
	out := map[string]string{}
	for _, e := range c.Sum {
		if e.Kind == KindShared {
			out[e.Path] = e.ID
		}
	}
	return out
}

// SetSum replaces the catalog's seals (after `checker seal` wrote a new labs.sum) and each lab's Sealed with them.
func (c *Catalog) SetSum(entries []Entry) {
	c.Sum = entries
	for i := range c.Labs {
		c.Labs[i].Sealed = sealedOf(entries, c.Labs[i].Dir())
	}
}

// Load reads every labs/NN-slug/lab.yaml under root, in number order, and labs/labs.sum. A lab whose metadata or
// files have problems is left out of Labs and recorded in Broken; only an unreadable labs/ folder or a malformed
// labs.sum is an error.
func Load(root string) (*Catalog, error) {
	entries, err := os.ReadDir(filepath.Join(root, LabsDir))
	if err != nil {
		return nil, fmt.Errorf("read labs: %w", err)
	}
	sum, err := ReadSum(root)
	if err != nil {
		return nil, err
	}
	c := &Catalog{Root: root, Broken: map[int][]string{}, Sum: sum}
	folders := map[int]string{}
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		name := e.Name()
		m := folderName.FindStringSubmatch(name)
		if m == nil {
			c.Strays = append(c.Strays, fmt.Sprintf("%s/%s: not a lab folder; fix: name it NN-slug (two digits, a dash, lower-case words)", LabsDir, name))
			continue
		}
		n, _ := strconv.Atoi(m[1])
		if n == 0 {
			c.Strays = append(c.Strays, fmt.Sprintf("%s/%s: lab numbers start at 01; fix: rename the folder", LabsDir, name))
			continue
		}
		if other, dup := folders[n]; dup {
			c.Broken[n] = append(c.Broken[n], fmt.Sprintf("%s/%s: number %d is also %s/%s; fix: renumber one of them", LabsDir, name, n, LabsDir, other))
			continue
		}
		folders[n] = name
		l, probs := loadLab(root, name, n)
		if len(probs) > 0 {
			c.Broken[n] = append(c.Broken[n], probs...)
			continue
		}
		l.Sealed = sealedOf(sum, l.Dir())
		c.Labs = append(c.Labs, l)
	}
	for n := range c.Broken { // a duplicated number makes both folders unusable
		if i := c.Index(n); i >= 0 {
			c.Labs = slices.Delete(c.Labs, i, i+1)
		}
	}
	slices.SortFunc(c.Labs, func(a, b Lab) int { return a.Number - b.Number })
	return c, nil
}

// loadLab reads and checks one lab folder.
func loadLab(root, name string, n int) (Lab, []string) {
	dir := filepath.Join(root, LabsDir, name)
	meta := LabsDir + "/" + name + "/" + MetaFile
	data, err := os.ReadFile(filepath.Join(dir, MetaFile))
	if errors.Is(err, fs.ErrNotExist) {
		return Lab{}, []string{fmt.Sprintf("%s is missing; fix: write it (copy labs/01-temporal-coupling/%s)", meta, MetaFile)}
	}
	if err != nil {
		return Lab{}, []string{fmt.Sprintf("%s: %v", meta, err)}
	}
	l, err := Parse(data)
	if err != nil {
		return Lab{}, []string{fmt.Sprintf("%s: %v", meta, err)}
	}
	l.Number, l.Slug = n, name
	probs := Validate(l)
	pkg, err := PackageOf(dir)
	if err != nil {
		probs = append(probs, fmt.Sprintf("%s/%s: %v", LabsDir, name, err))
	}
	l.Package = pkg
	probs = append(probs, checkFiles(dir, l)...)
	for i := range probs {
		if !strings.HasPrefix(probs[i], LabsDir+"/") {
			probs[i] = meta + ": " + probs[i]
		}
	}
	return l, probs
}

// Parse decodes a lab.yaml, rejecting unknown fields, and fills what it leaves to defaults: a step without its own
// edit list changes the lab's files, and the lab's Failure is its first failing test's marker. Number, slug and
// package come from the folder, not from here.
func Parse(data []byte) (Lab, error) {
	var l Lab
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&l); err != nil {
		return Lab{}, fmt.Errorf("parse: %w", err)
	}
	for i := range l.Steps {
		if len(l.Steps[i].Edit) == 0 {
			l.Steps[i].Edit = slices.Clone(l.Edit)
		}
	}
	if len(l.Steps) > 0 && len(l.Steps[0].Failing) > 0 {
		l.Failure = l.Steps[0].Failing[0].Marker
	}
	return l, nil
}

// Validate checks what can be checked in the metadata alone: required fields, markers, test names listed once,
// step and mistake references. Each problem names what is wrong and how to fix it.
func Validate(l Lab) []string {
	var probs []string
	add := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	if strings.TrimSpace(l.Title) == "" {
		add("title is missing; fix: add `title: <the lab's name>`")
	}
	if len(l.Edit) == 0 {
		add("edit lists no files; fix: add `edit: [<the file the attendee changes>]`")
	}
	written := len(l.Written()) > 0
	for _, e := range l.Edit {
		switch {
		case strings.HasSuffix(e, "_test.go") && plainName(e):
			if !written {
				add("edit entry %q is a test file: only a lab with a `written:` step lets the attendee edit one", e)
			}
		case !plainGoFile(e):
			add("edit entry %q must be the name of a non-test .go file in the lab folder", e)
		}
	}
	if len(l.Steps) == 0 {
		add("steps lists no step; fix: add at least one step with its failing tests")
	}
	listed := map[string]string{} // test → where it is listed
	list := func(test, where string) {
		if !strings.HasPrefix(test, "Test") || test == "TestMain" {
			add("%s: %q is not a test function name", where, test)
		}
		if test == ChaosTest {
			add("%s: %s belongs to no step; fix: remove it here and declare `chaos: {runs: N}`", where, ChaosTest)
		}
		if prev, dup := listed[test]; dup {
			add("%s: %s is already listed in %s; fix: list each test in exactly one step", where, test, prev)
		}
		listed[test] = where
	}
	for i, s := range l.Steps {
		where := fmt.Sprintf("step %d", i+1)
		if strings.TrimSpace(s.Title) == "" {
			add("%s: title is missing", where)
		}
		if len(s.Failing) == 0 && s.Written == nil {
			add("%s: failing lists no test; fix: every step has a test that fails before it is done", where)
		}
		if w := s.Written; w != nil {
			list(w.Test, where+" written")
			if !IsMarker(w.Marker) {
				add("%s: written %s has unknown marker %q (want one of %s)", where, w.Test, w.Marker, strings.Join(Markers(), ", "))
			}
			if !mistakeName.MatchString(w.Planted) {
				add("%s: written planted must be lower-case words joined by dashes (it names %s/<name>/)", where, PlantedDir)
			}
			if strings.TrimSpace(w.Bug) == "" {
				add("%s: written bug is missing; fix: one line on what the planted bug does", where)
			}
		}
		for _, f := range s.Failing {
			list(f.Test, where+" failing")
			if !IsMarker(f.Marker) {
				add("%s: %s has unknown marker %q (want one of %s)", where, f.Test, f.Marker, strings.Join(Markers(), ", "))
			}
		}
		for _, g := range s.Guards {
			list(g, where+" guards")
		}
		for _, e := range s.Edit {
			if !slices.Contains(l.Edit, e) {
				add("%s: edit file %s is not in the lab's edit list; fix: add it there", where, e)
			}
		}
		if s.Solo < 0 || s.Mob < 0 {
			add("%s: solo and mob are minutes and cannot be negative", where)
		}
	}
	names := map[string]bool{}
	for i, m := range l.Mistakes {
		where := fmt.Sprintf("mistake %q", m.Name)
		if m.Name == "" {
			where = fmt.Sprintf("mistake %d", i+1)
		}
		if !mistakeName.MatchString(m.Name) {
			add("%s: name must be lower-case words joined by dashes (it names testdata/mistakes/<name>/)", where)
		}
		if names[m.Name] {
			add("%s: the name is used twice", where)
		}
		names[m.Name] = true
		if m.Step < 1 || m.Step > len(l.Steps) {
			add("%s: step %d does not exist (the lab has %d)", where, m.Step, len(l.Steps))
		}
		if strings.TrimSpace(m.Says) == "" {
			add("%s: says is missing; fix: one line on what the mistake does wrong", where)
		}
		switch _, ok := listed[m.Caught.Test]; {
		case m.Caught.Test == ChaosTest && l.Chaos == nil:
			add("%s: caught by %s, but the lab declares no chaos", where, ChaosTest)
		case m.Caught.Test != ChaosTest && !ok:
			add("%s: caught by %q, which no step lists", where, m.Caught.Test)
		}
		if !IsMarker(m.Caught.Marker) {
			add("%s: caught has unknown marker %q (want one of %s)", where, m.Caught.Marker, strings.Join(Markers(), ", "))
		}
	}
	if l.Chaos != nil && l.Chaos.Runs < 1 {
		add("chaos: runs must be at least 1")
	}
	if l.Lecture < 0 {
		add("lecture is minutes and cannot be negative")
	}
	return probs
}

func plainGoFile(name string) bool {
	return plainName(name) && !strings.HasSuffix(name, "_test.go")
}

// plainName reports whether name is a .go file directly in the lab folder.
func plainName(name string) bool {
	return name != "" && !strings.ContainsAny(name, `/\`) && strings.HasSuffix(name, ".go")
}

// checkFiles checks what a lab needs to be used at all: its edit files and at least one test file. Whether the
// tests the steps list are declared is a maintainer's check (checker dev check): an attendee who edits a test file
// still sees the lab, and the run is not counted.
func checkFiles(dir string, l Lab) []string {
	var probs []string
	for _, e := range l.Edit {
		if plainName(e) {
			if _, err := os.Stat(filepath.Join(dir, e)); err != nil {
				probs = append(probs, fmt.Sprintf("%s/%s is missing (fix: git checkout -- %s/%s)", l.Dir(), e, l.Dir(), e))
			}
		}
	}
	tests, err := TestFiles(dir)
	if err != nil {
		return append(probs, fmt.Sprintf("%s: %v", l.Dir(), err))
	}
	if len(tests) == 0 {
		probs = append(probs, fmt.Sprintf("%s has no test; fix: add <package>_test.go", l.Dir()))
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

// DeclaredTests returns the test functions (func TestX(t *testing.T)) of the *_test.go files in dir, each with the
// file that declares it.
func DeclaredTests(dir string) (map[string]string, error) {
	files, err := TestFiles(dir)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	fset := token.NewFileSet()
	for _, name := range files {
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", name, err)
		}
		for _, d := range f.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && isTestFunc(fn) {
				out[fn.Name.Name] = name
			}
		}
	}
	return out, nil
}

// isTestFunc reports whether fn is `func TestX(t *testing.T)`.
func isTestFunc(fn *ast.FuncDecl) bool {
	if fn.Recv != nil || !strings.HasPrefix(fn.Name.Name, "Test") || fn.Type.Params == nil || len(fn.Type.Params.List) != 1 {
		return false
	}
	star, ok := fn.Type.Params.List[0].Type.(*ast.StarExpr)
	if !ok {
		return false
	}
	sel, ok := star.X.(*ast.SelectorExpr)
	return ok && sel.Sel.Name == "T"
}

// PackageOf returns the package name of the non-test Go files in dir; they must agree.
func PackageOf(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("package: %w", err)
	}
	fset := token.NewFileSet()
	var pkg, from string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.PackageClauseOnly)
		if err != nil {
			return "", fmt.Errorf("package clause of %s: %w", name, err)
		}
		switch {
		case pkg == "":
			pkg, from = f.Name.Name, name
		case f.Name.Name != pkg:
			return "", fmt.Errorf("%s says package %s but %s says package %s; fix: one package per lab", name, f.Name.Name, from, pkg)
		}
	}
	if pkg == "" {
		return "", errors.New("no Go file outside the tests, so the lab has no package; fix: add the file the attendee edits")
	}
	return pkg, nil
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
