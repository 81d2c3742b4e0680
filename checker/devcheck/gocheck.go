package devcheck

import (
	"bytes"
	"context"
	"encoding/json"
	"go/format"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"msglabs/checker/lab"
	"msglabs/checker/verify"
)

// skipDirs are folders gofmt leaves alone: build output, the checker's state, npm's tree, git.
var skipDirs = []string{"bin", "node_modules", ".msglabs", ".git"}

// gofmt checks every Go file of the kit; a lab's edit files are checked as shipped, so an attendee's half-done edit
// never fails the kit's own check.
func (k *checker) gofmt(context.Context) {
	edit := map[string]lab.Lab{}
	for _, l := range k.c.Labs {
		for _, f := range l.Edit {
			edit[path.Join(l.Dir(), f)] = l
		}
	}
	err := filepath.WalkDir(k.c.Root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != k.c.Root && (slices.Contains(skipDirs, d.Name()) || strings.HasPrefix(d.Name(), ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") {
			return nil
		}
		rel, _ := filepath.Rel(k.c.Root, p)
		rel = filepath.ToSlash(rel)
		var data []byte
		if l, ok := edit[rel]; ok {
			data, err = k.shipped(l, path.Base(rel))
		} else {
			data, err = os.ReadFile(p)
		}
		if err != nil {
			k.add(RuleFmt, rel, "", "cannot read: %v", err)
			return nil
		}
		if out, err := format.Source(data); err != nil {
			k.add(RuleFmt, rel, "make it compile", "gofmt cannot parse it: %v", err)
		} else if !bytes.Equal(out, data) {
			k.add(RuleFmt, rel, "gofmt -w "+rel, "not gofmt-formatted")
		}
		return nil
	})
	if err != nil {
		k.add(RuleFmt, ".", "", "walk the kit: %v", err)
	}
}

// vet runs go vet over the shipped starters, the solutions (-tags solution, the solution overlay) and, when the
// whole kit is checked, shared/ and checker/. The attendee's files are never vetted: overlays put the shipped
// starter in their place.
func (k *checker) vet(ctx context.Context) {
	tmp, err := os.MkdirTemp("", "msglabs-devcheck-")
	if err != nil {
		k.add(RuleVet, ".", "", "vet: %v", err)
		return
	}
	defer os.RemoveAll(tmp)
	starter, solved := map[string]string{}, map[string]string{}
	var pkgs []string
	for _, l := range k.labs {
		repl, err := verify.StarterOverlay(ctx, k.c, l, filepath.Join(tmp, l.Slug))
		if err != nil {
			k.add(RuleVet, l.Dir(), "", "cannot put the shipped starter in place: %v", err)
			continue
		}
		sol := map[string]string{}
		for from, to := range repl {
			starter[from], sol[from] = to, to
		}
		if err := verify.SolutionOverlay(k.c, l, tmp, sol); err != nil {
			k.add(RuleVet, l.SolutionDir(), "", "%v", err)
		}
		for from, to := range sol {
			solved[from] = to
		}
		pkgs = append(pkgs, "./"+l.Dir()+"/...")
	}
	if len(pkgs) == 0 {
		return
	}
	k.goVet(ctx, tmp, "starter", starter, nil, pkgs)
	k.goVet(ctx, tmp, "solution", solved, []string{"-tags=solution"}, pkgs)
	if len(k.o.Labs) == 0 {
		var rest []string
		for _, dir := range []string{"shared", "checker"} {
			if st, err := os.Stat(k.c.Path(dir)); err == nil && st.IsDir() {
				rest = append(rest, "./"+dir+"/...")
			}
		}
		if len(rest) > 0 {
			k.goVet(ctx, tmp, "kit", nil, nil, rest)
		}
	}
}

func (k *checker) goVet(ctx context.Context, tmp, name string, overlay map[string]string, flags, pkgs []string) {
	args := append([]string{"vet"}, flags...)
	if overlay != nil {
		data, _ := json.Marshal(struct{ Replace map[string]string }{overlay})
		file := filepath.Join(tmp, name+".json")
		if err := os.WriteFile(file, data, 0o644); err != nil {
			k.add(RuleVet, ".", "", "vet: %v", err)
			return
		}
		args = append(args, "-overlay="+file)
	}
	cmd := exec.CommandContext(ctx, "go", append(args, pkgs...)...)
	cmd.Dir = k.c.Root
	out, err := cmd.CombinedOutput()
	if err == nil {
		return
	}
	reported := false
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		file, what, ok := strings.Cut(line, ": ")
		if !ok {
			file, what = "go vet", line
		}
		k.add(RuleVet, strings.TrimPrefix(file, "./"), "", "go vet (%s): %s", name, what)
		reported = true
	}
	if !reported {
		k.add(RuleVet, ".", "", "go vet (%s) failed: %v", name, err)
	}
}
