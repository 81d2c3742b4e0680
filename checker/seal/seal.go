// Package seal keeps labs/labs.sum, the git blob ids of what the kit ships: every lab's tests, its other non-edit
// files, its starter (edit) files and everything under shared/. `checker seal` writes the file, `seal --check` (in
// make test) finds it stale, and Counts tells the checker whether an attendee's run may be recorded.
package seal

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"msglabs/checker/lab"
	"msglabs/checker/safefile"
)

// SharedDir is the folder of the harness every lab test imports, relative to the kit root.
const SharedDir = "shared"

// ReadmeFile is the lab file a seal leaves out: an attendee may take notes in it, and no test reads it.
const ReadmeFile = "README.md"

// Fix is the command that regenerates labs.sum, as the problems print it.
const Fix = "go run ./checker seal"

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

// LabFiles returns a lab's files as the seal sees them, each with its kind, by path relative to the lab folder:
// *_test.go in the lab folder are tests, the edit files are the starter, every other file (in sub-folders too) is
// lab, except README.md and dot files.
func LabFiles(c *lab.Catalog, l lab.Lab) (map[string]lab.Kind, error) {
	dir := c.Path(l.Dir())
	out := map[string]lab.Kind{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && p != dir {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		switch {
		case rel == ReadmeFile:
		case slices.Contains(l.Edit, rel):
			out[rel] = lab.KindStarter
		case !strings.Contains(rel, "/") && strings.HasSuffix(rel, "_test.go"):
			out[rel] = lab.KindTest
		default:
			out[rel] = lab.KindLab
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", l.Dir(), err)
	}
	return out, nil
}

// SharedFiles returns the paths (relative to the kit root) of every file under shared/, dot files left out.
func SharedFiles(root string) ([]string, error) {
	var out []string
	base := filepath.Join(root, SharedDir)
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") && p != base {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() {
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", SharedDir, err)
	}
	slices.Sort(out)
	return out, nil
}

// Compute returns labs.sum's entries as the files are now, for every usable lab and shared/.
func Compute(c *lab.Catalog) ([]lab.Entry, error) {
	var out []lab.Entry
	for _, l := range c.Labs {
		files, err := LabFiles(c, l)
		if err != nil {
			return nil, err
		}
		for rel, kind := range files {
			p := path.Join(l.Dir(), rel)
			id, err := FileBlobID(c.Path(p))
			if err != nil {
				return nil, err
			}
			out = append(out, lab.Entry{Kind: kind, Path: p, ID: id})
		}
	}
	shared, err := SharedFiles(c.Root)
	if err != nil {
		return nil, err
	}
	for _, p := range shared {
		id, err := FileBlobID(c.Path(p))
		if err != nil {
			return nil, err
		}
		out = append(out, lab.Entry{Kind: lab.KindShared, Path: p, ID: id})
	}
	return out, nil
}

// Write regenerates labs.sum from the files and reports whether it changed. Broken labs are left out (their old
// lines go too): a lab in the making is sealed once it loads.
func Write(c *lab.Catalog) (bool, error) {
	entries, err := Compute(c)
	if err != nil {
		return false, fmt.Errorf("seal: %w", err)
	}
	out := lab.FormatSum(entries)
	file := c.Path(lab.SumFile)
	if old, err := os.ReadFile(file); err == nil && bytes.Equal(old, out) {
		return false, nil
	}
	if err := safefile.Write(file, out, 0o644); err != nil {
		return false, fmt.Errorf("seal: %w", err)
	}
	c.SetSum(entries)
	return true, nil
}
