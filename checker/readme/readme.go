// Package readme generates the parts of the kit's documents that the lab metadata already says, so they cannot
// drift from it: the README's lab table, and (with Sync) every other generated block. Each block stands between a
// begin and an end comment line; only the begin line's prefix is matched, so its explanation may change.
package readme

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"

	"msglabs/checker/lab"
	"msglabs/checker/safefile"
)

// File is the kit's README, relative to the kit root.
const File = "README.md"

// Fix is the command that regenerates every generated block.
const Fix = "go run ./checker seal"

// The comment lines around the README's lab table.
const (
	tableBegin = "<!-- labs:begin"
	tableEnd   = "<!-- labs:end -->"
)

// Table renders the README's lab table: number, title linked to the lab's README, headline marker, summary.
func Table(labs []lab.Lab) string {
	var b strings.Builder
	b.WriteString("| # | lab | the starter shows | what goes wrong |\n|---|---|---|---|\n")
	for _, l := range labs {
		fmt.Fprintf(&b, "| %d | [%s](labs/%s/README.md) | **%s** | %s |\n", l.Number, l.Title, l.Slug, l.Failure,
			strings.ReplaceAll(l.Summary, "|", `\|`))
	}
	return b.String()
}

// Replace returns data with what stands between the line starting with begin and the line end replaced by text.
// name says which file it is, for the error.
func Replace(name string, data []byte, begin, end, text string) ([]byte, error) {
	b := bytes.Index(data, []byte(begin))
	if b < 0 {
		return nil, fmt.Errorf("%s has no %q line; fix: put the %q and %q lines back where the block belongs", name, begin, begin, end)
	}
	afterBegin := bytes.IndexByte(data[b:], '\n')
	e := bytes.Index(data[b:], []byte(end))
	if afterBegin < 0 || e < afterBegin {
		return nil, fmt.Errorf("%s: %q must follow %q on a later line", name, end, begin)
	}
	start, stop := b+afterBegin+1, b+e
	out := append([]byte{}, data[:start]...)
	out = append(out, text...)
	return append(out, data[stop:]...), nil
}

// Block is one generated block of a file: where it is and what it must say.
type Block struct {
	File       string // relative to the kit root
	Begin, End string
	Text       string
}

// Blocks returns every generated block of the kit's documents.
func Blocks(c *lab.Catalog) []Block {
	return []Block{{File: File, Begin: tableBegin, End: tableEnd, Text: Table(c.Labs)}}
}

// Sync rewrites every generated block that differs and returns the files it changed. A kit without a README (a
// test kit) has no table to keep current.
func Sync(c *lab.Catalog) ([]string, error) {
	var changed []string
	for _, fb := range byFile(Blocks(c)) {
		file, blocks := fb.file, fb.blocks
		data, err := os.ReadFile(c.Path(file))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return changed, fmt.Errorf("generate %s: %w", file, err)
		}
		out, err := apply(file, data, blocks)
		if err != nil {
			return changed, err
		}
		if bytes.Equal(out, data) {
			continue
		}
		if err := safefile.Write(c.Path(file), out, 0o644); err != nil {
			return changed, err
		}
		changed = append(changed, file)
	}
	return changed, nil
}

// Check returns one problem per generated block that differs from what the metadata says.
func Check(c *lab.Catalog) []string {
	var probs []string
	for _, fb := range byFile(Blocks(c)) {
		file, blocks := fb.file, fb.blocks
		data, err := os.ReadFile(c.Path(file))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			probs = append(probs, fmt.Sprintf("%s: %v", file, err))
			continue
		}
		for _, b := range blocks {
			out, err := Replace(file, data, b.Begin, b.End, b.Text)
			switch {
			case err != nil:
				probs = append(probs, err.Error())
			case !bytes.Equal(out, data):
				probs = append(probs, fmt.Sprintf("%s: the block after %q differs from the lab metadata; fix: %s", file, b.Begin, Fix))
			}
		}
	}
	return probs
}

// byFile groups blocks by file, in the order the files first appear.
func byFile(blocks []Block) []fileBlocks {
	var out []fileBlocks
	for _, b := range blocks {
		i := slices.IndexFunc(out, func(f fileBlocks) bool { return f.file == b.File })
		if i < 0 {
			out = append(out, fileBlocks{file: b.File})
			i = len(out) - 1
		}
		out[i].blocks = append(out[i].blocks, b)
	}
	return out
}

type fileBlocks struct {
	file   string
	blocks []Block
}

func apply(file string, data []byte, blocks []Block) ([]byte, error) {
	for _, b := range blocks {
		var err error
		if data, err = Replace(file, data, b.Begin, b.End, b.Text); err != nil {
			return nil, err
		}
	}
	return data, nil
}
