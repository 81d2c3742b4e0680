package seal

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"slices"
	"strings"

	"msglabs/checker/lab"
)

// Change says how a file differs from its seal.
type Change int

// The ways a file can differ from labs.sum.
const (
	New      Change = iota + 1 // the file is not sealed
	Edited                     // its content differs
	Gone                       // a sealed file no longer exists
	Moved                      // it is sealed as another kind (a file that became an edit file, say)
	NotInGit                   // a changed starter whose shipped blob git does not have
)

// Stale describes one file whose seal does not match.
type Stale struct {
	Slug   string   // the lab's slug; "" for a file under shared/
	Kind   lab.Kind // what the file is sealed (or would be sealed) as
	File   string   // slash path relative to the kit root
	Change Change
	Reason string
}

func (s Stale) String() string { return s.File + ": " + s.Reason }

// Check compares labs.sum with the files of every usable lab and of shared/. Tests, lab files and shared files
// must match exactly. A starter must match exactly when strict (CI); otherwise its sealed blob must merely be in
// git, since an instructor may have committed solved labs (verify takes the shipped starter from git).
func Check(ctx context.Context, c *lab.Catalog, strict bool) ([]Stale, error) {
	var stale []Stale
	for _, l := range c.Labs {
		s, err := CheckLab(ctx, c, l, strict)
		if err != nil {
			return nil, err
		}
		stale = append(stale, s...)
	}
	s, err := checkShared(c)
	if err != nil {
		return nil, err
	}
	stale = append(stale, s...)
	for _, e := range c.Sum {
		if e.Kind != lab.KindShared && !belongsToUsableLab(c, e.Path) {
			stale = append(stale, Stale{Kind: e.Kind, File: e.Path, Change: Gone, Reason: "sealed, but not part of a usable lab"})
		}
	}
	return stale, nil
}

func belongsToUsableLab(c *lab.Catalog, p string) bool {
	for _, l := range c.Labs {
		if strings.HasPrefix(p, l.Dir()+"/") {
			return true
		}
	}
	return false
}

// CheckLab compares one lab's seal with its files; see Check.
func CheckLab(ctx context.Context, c *lab.Catalog, l lab.Lab, strict bool) ([]Stale, error) {
	files, err := LabFiles(c, l)
	if err != nil {
		return nil, err
	}
	var stale []Stale
	add := func(kind lab.Kind, rel string, change Change, reason string) {
		stale = append(stale, Stale{Slug: l.Slug, Kind: kind, File: path.Join(l.Dir(), rel), Change: change, Reason: reason})
	}
	sealed := sealedKinds(l.Sealed)
	for _, rel := range sortedKeys(files) {
		kind := files[rel]
		id, err := FileBlobID(c.Path(path.Join(l.Dir(), rel)))
		if err != nil {
			return nil, err
		}
		was, ok := sealed[rel]
		switch {
		case !ok:
			add(kind, rel, New, string(kind)+" file is not sealed")
		case was.kind != kind:
			add(kind, rel, Moved, fmt.Sprintf("sealed as %s, now a %s file", was.kind, kind))
		case id == was.id:
		case kind != lab.KindStarter:
			add(kind, rel, Edited, string(kind)+" file changed since it was sealed")
		case strict:
			add(kind, rel, Edited, "starter file changed since it was sealed")
		case !GitHasBlob(ctx, c.Root, was.id):
			add(kind, rel, NotInGit, "sealed starter "+short(was.id)+" is not in git")
		}
	}
	for _, rel := range sortedKeys(sealed) {
		if _, ok := files[rel]; !ok {
			add(sealed[rel].kind, rel, Gone, "sealed file no longer exists")
		}
	}
	return stale, nil
}

func checkShared(c *lab.Catalog) ([]Stale, error) {
	now, err := SharedFiles(c.Root)
	if err != nil {
		return nil, err
	}
	sealed := c.Shared()
	var stale []Stale
	add := func(p string, change Change, reason string) {
		stale = append(stale, Stale{Kind: lab.KindShared, File: p, Change: change, Reason: reason})
	}
	for _, p := range now {
		id, err := FileBlobID(c.Path(p))
		if err != nil {
			return nil, err
		}
		switch was, ok := sealed[p]; {
		case !ok:
			add(p, New, "shared file is not sealed")
		case was != id:
			add(p, Edited, "shared file changed since it was sealed")
		}
	}
	for _, p := range sortedKeys(sealed) {
		if !slices.Contains(now, p) {
			add(p, Gone, "sealed file no longer exists")
		}
	}
	return stale, nil
}

type sealedFile struct {
	kind lab.Kind
	id   string
}

func sealedKinds(s lab.Sealed) map[string]sealedFile {
	out := map[string]sealedFile{}
	for kind, m := range map[lab.Kind]map[string]string{lab.KindTest: s.Tests, lab.KindLab: s.Lab, lab.KindStarter: s.Starter} {
		for rel, id := range m {
			out[rel] = sealedFile{kind, id}
		}
	}
	return out
}

// Counts reports whether a run of lab l against the attendee's files may be recorded: the lab is sealed, and its
// tests, its other non-edit files and shared/ are exactly as shipped (the edit files are the attendee's, and so is
// a new non-test file in the lab folder: notes, a helper of their own). When it may not, why says which files
// differ and how to put them back, one sentence each. It reads the files and never runs git.
func Counts(c *lab.Catalog, l lab.Lab) (ok bool, why []string, err error) {
	if len(l.Sealed.Tests) == 0 {
		return false, []string{fmt.Sprintf("lab %d is not sealed yet (a kit in the making; maintainers: %s)", l.Number, Fix)}, nil
	}
	stale, err := CheckLab(context.Background(), c, l, true) // strict: a changed starter never asks git
	if err != nil {
		return false, nil, err
	}
	shared, err := checkShared(c)
	if err != nil {
		return false, nil, err
	}
	for _, s := range append(stale, shared...) {
		if s.Kind == lab.KindStarter || (s.Kind == lab.KindLab && s.Change == New) {
			continue
		}
		why = append(why, notCountedBecause(s))
	}
	return len(why) == 0, why, nil
}

func notCountedBecause(s Stale) string {
	switch s.Change {
	case New:
		return fmt.Sprintf("%s is not part of the kit (fix: delete it, or move it out of %s)", s.File, path.Dir(s.File))
	case Gone:
		return fmt.Sprintf("%s is missing (fix: git checkout -- %s)", s.File, s.File)
	}
	return fmt.Sprintf("%s differs from the shipped file (fix: git checkout -- %s)", s.File, s.File)
}

// Shipped returns the shipped content of a lab file (an edit, test or lab file, by its path relative to the lab
// folder): the current file when its blob id equals the sealed one, otherwise the sealed blob from git.
func Shipped(ctx context.Context, c *lab.Catalog, l lab.Lab, file string) ([]byte, error) {
	was, ok := sealedKinds(l.Sealed)[file]
	if !ok {
		return nil, fmt.Errorf("%s/%s is not sealed; fix: %s", l.Dir(), file, Fix)
	}
	if data, err := os.ReadFile(c.Path(path.Join(l.Dir(), file))); err == nil && BlobID(data) == was.id {
		return data, nil
	}
	data, err := GitBlob(ctx, c.Root, was.id)
	if err != nil {
		return nil, fmt.Errorf("shipped %s/%s (blob %s) is not available from git: %w", l.Dir(), file, short(was.id), err)
	}
	return data, nil
}

// Changed reports whether a lab file (by its path relative to the lab folder) is no longer as shipped: its blob id
// differs from the sealed one, it cannot be read, or it is not sealed at all.
func Changed(c *lab.Catalog, l lab.Lab, file string) bool {
	was, ok := sealedKinds(l.Sealed)[file]
	if !ok {
		return true
	}
	id, err := FileBlobID(c.Path(path.Join(l.Dir(), file)))
	return err != nil || id != was.id
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
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
