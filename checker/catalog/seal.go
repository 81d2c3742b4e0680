package catalog

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// BlobID returns the git blob id of content: the hex sha1 of "blob <len>\x00<content>".
func BlobID(content []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(content))
	h.Write(content)
	return hex.EncodeToString(h.Sum(nil))
}

// FileBlobID returns the git blob id of the file at path.
func FileBlobID(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("blob id: %w", err)
	}
	return BlobID(data), nil
}

// Compute returns the seal of a lab as the files are now: every *_test.go file and every edit file.
func (c *Catalog) Compute(l Lab) (Sealed, error) {
	dir := c.Path(l.Dir())
	s := Sealed{Tests: map[string]string{}, Starter: map[string]string{}}
	tests, err := TestFiles(dir)
	if err != nil {
		return Sealed{}, err
	}
	for _, f := range tests {
		if s.Tests[f], err = FileBlobID(filepath.Join(dir, f)); err != nil {
			return Sealed{}, err
		}
	}
	for _, f := range l.Edit {
		if s.Starter[f], err = FileBlobID(filepath.Join(dir, f)); err != nil {
			return Sealed{}, err
		}
	}
	return s, nil
}

// Seal records the current blob ids of every existing lab in labs.yaml, keeping the rest of its text as it is.
// It reports the slugs whose seal changed.
func (c *Catalog) Seal() ([]string, error) {
	path := c.Path(File)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	seals := map[string]Sealed{}
	var changed []string
	for _, l := range c.Labs {
		s, err := c.Compute(l)
		if err != nil {
			return nil, fmt.Errorf("seal %s: %w", l.Slug, err)
		}
		seals[l.Slug] = s
		if !sameSeal(s, l.Sealed) {
			changed = append(changed, l.Slug)
		}
	}
	if readmeChanged, err := c.sealReadme(); err != nil {
		return nil, err
	} else if readmeChanged {
		changed = append(changed, ReadmeFile)
	}
	out, err := Rewrite(data, seals)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	if bytes.Equal(out, data) {
		return changed, nil
	}
	if err := WriteFileAtomic(path, out, 0o644); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return changed, nil
}

func sameSeal(a, b Sealed) bool {
	eq := func(x, y map[string]string) bool {
		if len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if y[k] != v {
				return false
			}
		}
		return true
	}
	return eq(a.Tests, b.Tests) && eq(a.Starter, b.Starter)
}

// Stale describes one out-of-date seal entry.
type Stale struct {
	Slug   string
	File   string // labs/<slug>/<file>
	Reason string
}

func (s Stale) String() string { return s.File + ": " + s.Reason }

// CheckSeal compares the seal of every existing lab with the files; see CheckLab.
func (c *Catalog) CheckSeal(ctx context.Context, strict bool) ([]Stale, error) {
	var stale []Stale
	for _, l := range c.Labs {
		s, err := c.CheckLab(ctx, l, strict)
		if err != nil {
			return nil, err
		}
		stale = append(stale, s...)
	}
	return append(stale, c.checkReadme()...), nil
}

// CheckLab compares a lab's seal with its files. A test file must match its sealed id exactly. A starter file must
// match exactly when strict (CI), and otherwise its sealed id must merely exist in git, since an instructor may have
// committed solved labs.
func (c *Catalog) CheckLab(ctx context.Context, l Lab, strict bool) ([]Stale, error) {
	now, err := c.Compute(l)
	if err != nil {
		return nil, err
	}
	var stale []Stale
	add := func(file, reason string) {
		stale = append(stale, Stale{Slug: l.Slug, File: l.Dir() + "/" + file, Reason: reason})
	}
	for _, f := range sortedKeys(now.Tests) {
		switch sealed, ok := l.Sealed.Tests[f]; {
		case !ok:
			add(f, "test file is not sealed")
		case sealed != now.Tests[f]:
			add(f, "test file changed since it was sealed")
		}
	}
	for _, f := range sortedKeys(l.Sealed.Tests) {
		if _, ok := now.Tests[f]; !ok {
			add(f, "sealed test file no longer exists")
		}
	}
	for _, f := range l.Edit {
		sealed, ok := l.Sealed.Starter[f]
		switch {
		case !ok:
			add(f, "starter file is not sealed")
		case strict && sealed != now.Starter[f]:
			add(f, "starter file changed since it was sealed")
		case !strict && sealed != now.Starter[f] && !GitHasBlob(ctx, c.Root, sealed):
			add(f, "sealed starter "+short(sealed)+" is not in git")
		}
	}
	return stale, nil
}

// Shipped returns the shipped content of a lab file (an edit file or a test file): the current file when its blob
// id equals the sealed one, otherwise the sealed blob from git.
func (c *Catalog) Shipped(ctx context.Context, l Lab, file string) ([]byte, error) {
	id, ok := l.Sealed.Starter[file]
	if !ok {
		id, ok = l.Sealed.Tests[file]
	}
	if !ok {
		return nil, fmt.Errorf("%s/%s is not sealed; fix: go run ./checker seal", l.Dir(), file)
	}
	if data, err := os.ReadFile(filepath.Join(c.Path(l.Dir()), file)); err == nil && BlobID(data) == id {
		return data, nil
	}
	data, err := GitBlob(ctx, c.Root, id)
	if err != nil {
		return nil, fmt.Errorf("shipped %s/%s (blob %s) is not available from git: %w", l.Dir(), file, short(id), err)
	}
	return data, nil
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// GitHasBlob reports whether git in root knows the object id.
func GitHasBlob(ctx context.Context, root, id string) bool {
	cmd := exec.CommandContext(ctx, "git", "cat-file", "-e", id)
	cmd.Dir = root
	return cmd.Run() == nil
}

// GitBlob returns the content of a blob from the git repository in root.
func GitBlob(ctx context.Context, root, id string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", "cat-file", "blob", id)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("git cat-file blob %s: %s", id, msg)
	}
	if BlobID(out) != id {
		return nil, fmt.Errorf("git cat-file blob %s: content does not match its id", id)
	}
	return out, nil
}

// Rewrite returns labs.yaml with the sealed block of each lab in seals replaced (or added as the entry's last key).
// Everything else, comments included, is kept byte for byte.
func Rewrite(data []byte, seals map[string]Sealed) ([]byte, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("parse %s: %w", File, err)
	}
	if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: top level is not a mapping", File)
	}
	var seq *yaml.Node
	top := root.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value == "labs" {
			seq = top.Content[i+1]
		}
	}
	if seq == nil || seq.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s: no labs list", File)
	}
	lines := strings.SplitAfter(string(data), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) > 0 && !strings.HasSuffix(lines[len(lines)-1], "\n") {
		lines[len(lines)-1] += "\n"
	}
	type edit struct {
		from, to int // replace lines[from:to]
		text     []string
	}
	var edits []edit
	for _, item := range seq.Content {
		if item.Kind != yaml.MappingNode {
			continue
		}
		var slug string
		var sealedKey *yaml.Node
		for i := 0; i+1 < len(item.Content); i += 2 {
			switch item.Content[i].Value {
			case "slug":
				slug = item.Content[i+1].Value
			case "sealed":
				sealedKey = item.Content[i]
			}
		}
		s, ok := seals[slug]
		if !ok {
			continue
		}
		indent := item.Column - 1
		block := sealBlock(strings.Repeat(" ", indent), s)
		if sealedKey != nil {
			from := sealedKey.Line - 1
			to := from + 1
			for to < len(lines) && (isBlank(lines[to]) || indentOf(lines[to]) > sealedKey.Column-1) {
				to++
			}
			for to > from+1 && isBlank(lines[to-1]) {
				to--
			}
			edits = append(edits, edit{from, to, block})
			continue
		}
		// No sealed key yet: add it after the entry's last line of content.
		start := item.Line - 1
		dash := indentOf(lines[start])
		end := start + 1
		for end < len(lines) && (isBlank(lines[end]) || indentOf(lines[end]) > dash) {
			end++
		}
		for end > start+1 && (isBlank(lines[end-1]) || isComment(lines[end-1])) {
			end--
		}
		edits = append(edits, edit{end, end, block})
	}
	for i := len(edits) - 1; i >= 0; i-- {
		e := edits[i]
		lines = append(lines[:e.from], append(append([]string{}, e.text...), lines[e.to:]...)...)
	}
	out := []byte(strings.Join(lines, ""))
	if _, err := Parse(out); err != nil {
		return nil, fmt.Errorf("rewritten catalog does not parse: %w", err)
	}
	return out, nil
}

func sealBlock(indent string, s Sealed) []string {
	out := []string{indent + "sealed:\n"}
	section := func(name string, m map[string]string) {
		if len(m) == 0 {
			out = append(out, indent+"  "+name+": {}\n")
			return
		}
		out = append(out, indent+"  "+name+":\n")
		for _, k := range sortedKeys(m) {
			out = append(out, indent+"    "+yamlKey(k)+": "+m[k]+"\n")
		}
	}
	section("tests", s.Tests)
	section("starter", s.Starter)
	return out
}

var plainKey = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.\-]*$`)

func yamlKey(k string) string {
	if plainKey.MatchString(k) {
		return k
	}
	return strconv.Quote(k)
}

func isBlank(line string) bool { return strings.TrimSpace(line) == "" }

func isComment(line string) bool { return strings.HasPrefix(strings.TrimSpace(line), "#") }

func indentOf(line string) int { return len(line) - len(strings.TrimLeft(line, " ")) }

// WriteFileAtomic writes data to a temporary file next to path and renames it over path.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
