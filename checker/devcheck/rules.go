package devcheck

import (
	"bytes"
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"msglabs/checker/lab"
	"msglabs/checker/readme"
	"msglabs/checker/seal"
)

// Texts the conventions fix.
const (
	todoMark      = "TODO(lab)"
	testHeader    = "// Do not edit:"
	buildLine     = "//go:build solution"
	whyPrefix     = "Why this fix:"
	whyTestPrefix = "Why this test:" // a reference test (the solution of a test file the attendee writes)
	plantedPrefix = "Planted bug"
	oneGoodAnswer = "one good answer, not the only one"
	noteLine      = "Note:"
)

func (k *checker) read(rel string) ([]byte, bool) {
	data, err := os.ReadFile(k.c.Path(rel))
	return data, err == nil
}

// meta reports the folders that did not load.
func (k *checker) meta() {
	for _, p := range k.c.Problems() {
		file, what, ok := strings.Cut(p, ": ")
		if !ok || !strings.HasPrefix(file, lab.LabsDir+"/") {
			file, what = lab.LabsDir, p
		}
		k.add(RuleMeta, file, "", "%s", what)
	}
}

func (k *checker) numbers() {
	for i, l := range k.c.Labs {
		if l.Number != i+1 {
			k.add(RuleNumbers, l.Dir(), fmt.Sprintf("rename the folder to %02d-%s, or add the missing lab", i+1, slugTail(l.Slug)),
				"lab %d follows lab %d: numbers must run 1, 2, 3 … without a gap", l.Number, i)
		}
	}
}

func slugTail(slug string) string {
	_, tail, _ := strings.Cut(slug, "-")
	return tail
}

// readmes reports a missing lab README and every generated part that is not current.
func (k *checker) readmes() {
	for _, l := range k.labs {
		if _, ok := k.read(path.Join(l.Dir(), "README.md")); !ok {
			k.add(RuleReadme, path.Join(l.Dir(), "README.md"), "write it: the story, each step's failure, the task, what it does not solve yet",
				"the lab has no README")
		}
	}
	for _, p := range readme.Check(k.c) {
		file, rest, _ := strings.Cut(p, ": ")
		if strings.HasPrefix(file, lab.LabsDir+"/") && !k.selected(file) {
			continue
		}
		what, fix, _ := strings.Cut(rest, "; fix: ")
		k.add(RuleReadme, file, fix, "%s", what)
	}
}

// selected reports whether a file under labs/ belongs to a lab the check looks at.
func (k *checker) selected(file string) bool {
	return slices.ContainsFunc(k.labs, func(l lab.Lab) bool { return strings.HasPrefix(file, l.Dir()+"/") })
}

func (k *checker) steps(l lab.Lab) {
	for i, s := range l.Steps {
		where := fmt.Sprintf("step %d (%s)", i+1, s.Title)
		if strings.TrimSpace(s.Concept) == "" {
			k.add(RuleSteps, l.MetaPath(), "add `concept:` with one line on what the step teaches", "%s has no concept", where)
		}
		if s.Solo <= 0 || s.Mob <= 0 {
			k.add(RuleSteps, l.MetaPath(), "add `solo:` and `mob:` minutes (the instructor guide sums them)",
				"%s needs solo and mob minutes above zero (solo %d, mob %d)", where, s.Solo, s.Mob)
		}
	}
}

// shipped returns the shipped content of a lab file: from git when the attendee (or an instructor) changed it.
func (k *checker) shipped(l lab.Lab, file string) ([]byte, error) {
	return seal.Shipped(context.Background(), k.c, l, file)
}

func (k *checker) todo(l lab.Lab) {
	for _, f := range l.Edit {
		data, err := k.shipped(l, f)
		if err != nil {
			k.add(RuleTodo, path.Join(l.Dir(), f), seal.Fix, "cannot read the shipped file: %v", err)
			continue
		}
		if !bytes.Contains(data, []byte(todoMark)) {
			k.add(RuleTodo, path.Join(l.Dir(), f), "mark each change site with // TODO(lab): <what is wrong here and what to do>",
				"the shipped edit file has no %s", todoMark)
		}
	}
}

// firstCodeLine returns the first line that is not a build constraint or blank.
func firstCodeLine(data []byte) string {
	for _, line := range strings.Split(string(data), "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "//go:build") {
			continue
		}
		return t
	}
	return ""
}

func (k *checker) testHeader(l lab.Lab) {
	files, _ := lab.TestFiles(k.c.Path(l.Dir()))
	for _, f := range files {
		if slices.Contains(l.Edit, f) {
			continue // a test the attendee writes: theirs to edit
		}
		data, _ := k.read(path.Join(l.Dir(), f))
		if !strings.HasPrefix(firstCodeLine(data), testHeader) {
			k.add(RuleTestHeader, path.Join(l.Dir(), f), "start it with `// Do not edit: this test shows the failure.`",
				"the test file does not start with %q", testHeader)
		}
	}
}

// headerText returns the text of the comment block after the build line and its blank line, comment markers
// removed and lines joined with spaces.
func headerText(data []byte) (ok bool, text string) {
	lines := strings.Split(string(data), "\n")
	if len(lines) < 3 || strings.TrimSpace(lines[0]) != buildLine || strings.TrimSpace(lines[1]) != "" {
		return false, ""
	}
	var words []string
	for _, line := range lines[2:] {
		c, isComment := strings.CutPrefix(strings.TrimSpace(line), "//")
		if !isComment {
			break
		}
		words = append(words, strings.Fields(c)...)
	}
	return true, strings.Join(words, " ")
}

func (k *checker) solution(l lab.Lab) {
	for _, f := range l.Edit {
		rel := path.Join(l.SolutionDir(), f)
		data, ok := k.read(rel)
		if !ok {
			k.add(RuleSolution, rel, "write the reference version of "+path.Join(l.Dir(), f), "the solution file is missing")
			continue
		}
		built, text := headerText(data)
		why := strings.HasPrefix(text, whyPrefix) || (strings.HasSuffix(f, "_test.go") && strings.HasPrefix(text, whyTestPrefix))
		switch {
		case !built:
			k.add(RuleSolution, rel, "start it with `//go:build solution` and a blank line", "the solution has no build line")
		case !why || !strings.Contains(text, oneGoodAnswer):
			k.add(RuleSolution, rel, "after the build line, `// Why this fix: …` ending with \"This is one good answer, not the only one: …\"",
				"the solution does not say why this fix (and that it is %s)", oneGoodAnswer)
		}
	}
	entries, _ := os.ReadDir(k.c.Path(l.SolutionDir()))
	for _, e := range entries {
		if e.IsDir() || slices.Contains(l.Edit, e.Name()) {
			continue
		}
		k.add(RuleSolution, path.Join(l.SolutionDir(), e.Name()), "remove it, or add it to the lab's edit list",
			"a solution file for a file the attendee does not edit")
	}
}

// packageOf returns the package clause of Go source, "" when it does not parse.
func packageOf(data []byte) string {
	f, err := parser.ParseFile(token.NewFileSet(), "", data, parser.PackageClauseOnly)
	if err != nil {
		return ""
	}
	return f.Name.Name
}

func (k *checker) packages(l lab.Lab) {
	want := func(rel string, ok ...string) {
		data, found := k.read(rel)
		if !found {
			return
		}
		if got := packageOf(data); !slices.Contains(ok, got) {
			k.add(RulePackage, rel, "say `package "+l.Package+"`", "package %q, but the lab's package is %s", got, l.Package)
		}
	}
	files, _ := lab.TestFiles(k.c.Path(l.Dir()))
	for _, f := range files {
		want(path.Join(l.Dir(), f), l.Package, l.Package+"_test")
	}
	for _, f := range l.Edit {
		want(path.Join(l.SolutionDir(), f), l.Package)
	}
	for f, steps := range l.Snapshots() {
		for _, s := range steps {
			want(path.Join(l.SolutionDir(), lab.StepDir(s), f), l.Package)
		}
	}
	for _, m := range l.Mistakes {
		for _, f := range l.Edit {
			want(path.Join(l.Dir(), lab.MistakesDir, m.Name, f), l.Package)
		}
	}
	for _, w := range l.Written() {
		dir := path.Join(l.Dir(), lab.PlantedDir, w.Planted)
		entries, _ := os.ReadDir(k.c.Path(dir))
		for _, e := range entries {
			want(path.Join(dir, e.Name()), l.Package)
		}
	}
}

// nearCode recognises a hint that shows code: a call (`ch.Qos(`), a selector (`d.MessageId`, `Ledger.Add`), an
// assignment, a struct literal, SQL.
var nearCode = regexp.MustCompile(`[A-Za-z_][\w.]*\(|\b[A-Za-z_]\w*\.[A-Z]\w*|:=|[A-Za-z_]\w*\{|\b(SELECT|INSERT|UPDATE|DELETE|CREATE|ALTER|TRUNCATE)\b`)

var link = regexp.MustCompile(`https?://`)

func (k *checker) hints(l lab.Lab) {
	lim := k.o.limits()
	for i, s := range l.Steps {
		where := fmt.Sprintf("step %d (%s)", i+1, s.Title)
		if n := len(s.Hints); n < lim.MinHints || n > lim.MaxHints {
			k.add(RuleHints, l.MetaPath(), "progressive hints: the concept, the API or SQL with a link, then near-code",
				"%s has %d hints; want %d to %d", where, n, lim.MinHints, lim.MaxHints)
		}
		if n := len(s.Hints); n > 0 && !nearCode.MatchString(s.Hints[n-1]) {
			k.add(RuleHints, l.MetaPath(), "end with the hint that shows the call, the SQL or the literal to write",
				"%s: the last hint is not near-code (no call, assignment, literal or SQL in it)", where)
		}
	}
}

func (k *checker) links(l lab.Lab) {
	for i, s := range l.Steps {
		text := s.Concept + " " + strings.Join(s.Hints, " ")
		if !link.MatchString(text) {
			k.add(RuleLinks, l.MetaPath(), "link the RabbitMQ, PostgreSQL, amqp091-go, pgx or OpenTelemetry page the step builds on, in a hint",
				"step %d (%s) links no documentation", i+1, s.Title)
		}
	}
}

func (k *checker) slides(l lab.Lab) {
	data, ok := k.read(l.SlidesPath())
	switch {
	case !ok:
		k.add(RuleSlides, l.SlidesPath(), "write the lab's deck: markdown, --- between slides, presenter notes after Note:", "the lab has no slides")
	case !bytes.Contains(data, []byte("\n"+noteLine)) && !bytes.HasPrefix(data, []byte(noteLine)):
		k.add(RuleSlides, l.SlidesPath(), "add presenter notes after a line starting with Note:", "the deck has no presenter notes")
	}
}

func (k *checker) slideNotes(l lab.Lab) {
	data, ok := k.read(l.SlidesPath())
	if !ok {
		return
	}
	line := 1
	for i, slide := range strings.Split(string(data), "\n---\n") {
		if !strings.Contains("\n"+slide, "\n"+noteLine) {
			k.add(RuleSlideNotes, fmt.Sprintf("%s:%d", l.SlidesPath(), line), "add `Note:` and a script an instructor can read (3–6 sentences)",
				"slide %d has no presenter notes", i+1)
		}
		line += strings.Count(slide, "\n") + 2
	}
}

func (k *checker) tests(l lab.Lab) {
	declared, err := lab.DeclaredTests(k.c.Path(l.Dir()))
	if err != nil {
		k.add(RuleTests, l.Dir(), "", "%v", err)
		return
	}
	names := make([]string, 0, len(declared))
	for name := range declared {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		file := path.Join(l.Dir(), declared[name])
		switch {
		case name == lab.ChaosTest && l.Chaos == nil:
			k.add(RuleTests, l.MetaPath(), "add `chaos: {runs: N}`", "%s declares %s, but lab.yaml declares no chaos", file, name)
		case name == lab.ChaosTest && declared[name] != "chaos_test.go":
			k.add(RuleTests, file, "move it to chaos_test.go", "%s belongs in chaos_test.go", name)
		case name != lab.ChaosTest && l.StepOf(name) == 0:
			k.add(RuleTests, l.MetaPath(), "list it in one step, under failing (with its marker) or guards",
				"%s (in %s) is in no step, so no run would run it", name, file)
		}
	}
	for _, name := range l.Visible() {
		if _, ok := declared[name]; !ok {
			k.add(RuleTests, l.MetaPath(), "remove it from the step, or write the test",
				"step %d lists %s, which no test file of the lab declares", l.StepOf(name), name)
		}
	}
	for step, w := range l.Written() {
		if file, ok := declared[w.Test]; ok && !slices.Contains(l.Steps[step-1].Edit, file) {
			k.add(RuleTests, path.Join(l.Dir(), file), "declare it in a test file of the step's edit list (the attendee's own)",
				"step %d's written test %s is in %s, which the attendee does not edit in that step", step, w.Test, file)
		}
	}
}

// planted checks the planted bug of every step in which the attendee writes a test: its folder holds full
// replacement files of the lab's own non-edit Go files, each headed `// Planted bug <name>: <bug>`, without a build
// line, and no folder there belongs to no step.
func (k *checker) planted(l lab.Lab) {
	base := path.Join(l.Dir(), lab.PlantedDir)
	names := map[string]bool{}
	for step, w := range l.Written() {
		names[w.Planted] = true
		dir := path.Join(base, w.Planted)
		files, err := os.ReadDir(k.c.Path(dir))
		if err != nil || len(files) == 0 {
			k.add(RulePlanted, dir, "add the buggy service as a full replacement of the lab's file (e.g. "+path.Join(dir, "<file>.go")+")",
				"step %d's planted bug %s has no files", step, w.Planted)
			continue
		}
		for _, f := range files {
			k.plantedFile(l, w, path.Join(dir, f.Name()), f)
		}
	}
	entries, _ := os.ReadDir(k.c.Path(base))
	for _, e := range entries {
		if !names[e.Name()] {
			k.add(RulePlanted, path.Join(base, e.Name()), "name it in a step's written.planted, or remove it", "a planted bug of no step")
		}
	}
}

func (k *checker) plantedFile(l lab.Lab, w lab.Written, rel string, f os.DirEntry) {
	name := f.Name()
	_, err := os.Stat(k.c.Path(path.Join(l.Dir(), name)))
	if f.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") || slices.Contains(l.Edit, name) || err != nil {
		k.add(RulePlanted, rel, "name each file after the lab's own non-edit Go file it replaces (the kit's service)",
			"not a Go file of the kit's code in %s", l.Dir())
		return
	}
	data, _ := k.read(rel)
	if bytes.Contains(data, []byte("//go:build")) {
		k.add(RulePlanted, rel, "remove the build line: the bug is put in place with an overlay", "a planted bug has a build line")
	}
	var words []string
	for _, line := range strings.Split(string(data), "\n") {
		c, ok := strings.CutPrefix(strings.TrimSpace(line), "//")
		if !ok {
			break
		}
		words = append(words, strings.Fields(c)...)
	}
	want := plantedPrefix + " " + w.Planted + ": " + strings.Join(strings.Fields(w.Bug), " ")
	if !strings.HasPrefix(strings.Join(words, " "), want) {
		k.add(RulePlanted, rel, "start it with `// "+want+"`", "the planted bug does not start with its name and bug")
	}
}

func (k *checker) snapshots(l lab.Lab) {
	needed := map[string]bool{}
	for f, steps := range l.Snapshots() {
		for _, s := range steps {
			rel := path.Join(l.SolutionDir(), lab.StepDir(s), f)
			needed[rel] = true
			data, ok := k.read(rel)
			switch {
			case !ok:
				k.add(RuleSnapshots, rel, fmt.Sprintf("write %s as it is after step %d (%s changes again in a later step)", f, s, f),
					"the step-wise solution is missing")
			case !bytes.HasPrefix(data, []byte(buildLine)):
				k.add(RuleSnapshots, rel, "start it with `//go:build solution` and a blank line", "the snapshot has no build line")
			}
		}
	}
	entries, _ := os.ReadDir(k.c.Path(l.SolutionDir()))
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		files, _ := os.ReadDir(k.c.Path(path.Join(l.SolutionDir(), e.Name())))
		for _, f := range files {
			rel := path.Join(l.SolutionDir(), e.Name(), f.Name())
			if !needed[rel] {
				k.add(RuleSnapshots, rel, "remove it, or list the file in the edit of a later step",
					"no snapshot is needed here (a snapshot is the state after step K of a file a later step changes again)")
			}
		}
	}
}

func (k *checker) mistakes(l lab.Lab) {
	base := path.Join(l.Dir(), lab.MistakesDir)
	for _, m := range l.Mistakes {
		dir := path.Join(base, m.Name)
		files, err := os.ReadDir(k.c.Path(dir))
		if err != nil || len(files) == 0 {
			k.add(RuleMistakes, dir, "add the wrong fix as full replacement edit files (e.g. "+path.Join(dir, l.Edit[0])+")",
				"mistake %s has no fixture", m.Name)
			continue
		}
		for _, f := range files {
			rel := path.Join(dir, f.Name())
			if f.IsDir() || !slices.Contains(l.Edit, f.Name()) {
				k.add(RuleMistakes, rel, "name each fixture file after the edit file it replaces", "not an edit file of the lab")
				continue
			}
			data, _ := k.read(rel)
			k.mistakeHeader(rel, m, data)
		}
	}
	entries, _ := os.ReadDir(k.c.Path(base))
	for _, e := range entries {
		if _, ok := l.Mistake(e.Name()); !ok {
			k.add(RuleMistakes, path.Join(base, e.Name()), "list it under mistakes in lab.yaml, or remove it",
				"a fixture of no mistake")
		}
	}
}

func (k *checker) mistakeHeader(rel string, m lab.Mistake, data []byte) {
	if bytes.Contains(data, []byte("//go:build")) {
		k.add(RuleMistakes, rel, "remove the build line: verify applies fixtures over the solution", "a mistake fixture has a build line")
	}
	var words []string
	for _, line := range strings.Split(string(data), "\n") {
		c, ok := strings.CutPrefix(strings.TrimSpace(line), "//")
		if !ok {
			break
		}
		words = append(words, strings.Fields(c)...)
	}
	want := "Mistake " + m.Name + ": " + strings.Join(strings.Fields(m.Says), " ")
	if !strings.HasPrefix(strings.Join(words, " "), want) {
		k.add(RuleMistakes, rel, "start it with `// "+want+"`, then a line or two on why an attendee would write it",
			"the fixture does not start with its mistake's name and says")
	}
}

func (k *checker) mistakeCount(l lab.Lab) {
	if n, lim := len(l.Mistakes), k.o.limits().MinMistakes; n < lim {
		k.add(RuleMistakeCount, l.MetaPath(), "add plausible wrong fixes under mistakes, each with its fixture",
			"%d mistakes; want at least %d", n, lim)
	}
}

func (k *checker) outputs(l lab.Lab) {
	rel := path.Join(l.Dir(), "README.md")
	data, ok := k.read(rel)
	if !ok {
		return
	}
	annotated := map[string]bool{}
	for _, o := range readme.Outputs(data) {
		annotated[o.Test] = true
		marker, failing := l.FailingMarker(o.Test)
		switch {
		case !failing:
			k.add(RuleOutputs, rel, "annotate only a failing test's output", "<!-- output: %s --> names no failing test of the lab", o.Test)
		case o.Headline == "":
			k.add(RuleOutputs, rel, "put the fenced block with the failure right after the annotation", "<!-- output: %s --> has no block after it", o.Test)
		case !strings.HasPrefix(o.Headline, marker+": "):
			k.add(RuleOutputs, fmt.Sprintf("%s:%d", rel, o.Line), "go run ./checker dev readme",
				"%s's headline should start with %s: (lab.yaml), the README says %q", o.Test, marker, o.Headline)
		}
	}
	for i, s := range l.Steps {
		if len(s.Failing) > 0 && !annotated[s.Failing[0].Test] {
			k.add(RuleOutputs, rel, "in the step's section, show the real failure: <!-- output: "+s.Failing[0].Test+" --> then a fenced block (go run ./checker dev readme fills the headline)",
				"step %d (%s) does not show %s's failure", i+1, s.Title, s.Failing[0].Test)
		}
	}
}

func (k *checker) unannotated(l lab.Lab) {
	rel := path.Join(l.Dir(), "README.md")
	data, ok := k.read(rel)
	if !ok {
		return
	}
	vouched := map[int]bool{}
	for _, o := range readme.Outputs(data) {
		vouched[o.Line] = true
	}
	for _, n := range readme.MarkerLines(data) {
		if !vouched[n] {
			k.add(RuleUnannotated, rel+":"+strconv.Itoa(n), "put `<!-- output: TestName -->` on the line before the block, naming the test that prints it",
				"a failure headline no annotation vouches for (it can go stale unseen)")
		}
	}
}

func (k *checker) sleep(l lab.Lab) {
	files, _ := lab.TestFiles(k.c.Path(l.Dir()))
	for _, f := range files {
		rel := path.Join(l.Dir(), f)
		fset := token.NewFileSet()
		file, err := parser.ParseFile(fset, k.c.Path(rel), nil, parser.SkipObjectResolution)
		if err != nil {
			continue
		}
		timePkg := importName(file, "time")
		if timePkg == "" {
			continue
		}
		ast.Inspect(file, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if id, isIdent := sel.X.(*ast.Ident); isIdent && id.Name == timePkg && sel.Sel.Name == "Sleep" {
				k.add(RuleSleep, fmt.Sprintf("%s:%d", rel, fset.Position(sel.Pos()).Line),
					"wait for the condition with env.Eventually or a barrier, bounded by a named constant",
					"time.Sleep in a lab test: it hopes instead of waiting, and flakes under load")
			}
			return true
		})
	}
}

// importName returns the name a file uses for an imported package path, "" when it does not import it.
func importName(f *ast.File, pkgPath string) string {
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p == pkgPath {
			if imp.Name != nil {
				return imp.Name.Name
			}
			return path.Base(pkgPath)
		}
	}
	return ""
}
