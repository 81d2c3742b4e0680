// Package readme generates the parts of the kit's documents that the lab metadata already says, so that they cannot
// drift from it and adding a lab touches none of them by hand: the README's lab table and marker table, each lab
// README's heading and "Next:" line, the lab count in prose, and (from a run of the starter) the failure headlines
// the lab READMEs show. A generated block stands between a begin and an end comment line; only the begin line's
// prefix is matched, so its explanation may change.
package readme

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"msglabs/checker/lab"
	"msglabs/checker/safefile"
	"msglabs/shared/story"
)

// File is the kit's README, relative to the kit root.
const File = "README.md"

// DevelopersFile is the contributors' guide, which shows the marker table too.
const DevelopersFile = "DEVELOPERS.md"

// Fix is the command that regenerates every block that needs no test run.
const Fix = "go run ./checker seal"

// ProseFiles are the documents whose lab count in prose ("fifteen labs") is kept equal to the number of labs,
// besides every deck under slides/.
var ProseFiles = []string{File, DevelopersFile, "INSTRUCTORS.md"}

// proseFiles returns ProseFiles and the decks, slides/*.md.
func proseFiles(root string) []string {
	decks, _ := filepath.Glob(filepath.Join(root, "slides", "*.md"))
	out := slices.Clone(ProseFiles)
	for _, d := range decks {
		out = append(out, "slides/"+filepath.Base(d))
	}
	return out
}

// The comment lines around generated blocks.
const (
	tableBegin   = "<!-- labs:begin"
	tableEnd     = "<!-- labs:end -->"
	markersBegin = "<!-- markers:begin"
	markersEnd   = "<!-- markers:end -->"
	nextBegin    = "<!-- next:begin"
	nextEnd      = "<!-- next:end -->"
)

// Meanings says in one line what each marker of shared/story means to an attendee. Check fails when story has a
// marker this table does not explain.
var Meanings = map[story.Marker]string{
	story.Lost:      "something that happened never had its consequence: an order placed, never billed",
	story.Duplicate: "a consequence happened more than once: an order billed twice",
	story.Stalled:   "work stopped making progress: a message loops, a saga waits forever, a consumer sits idle",
	story.Ghost:     "a message about something that never happened: OrderPlaced for a rolled-back order",
	story.Crosstalk: "an answer was taken for a question it does not belong to: a late quote priced the next order",
	story.Infra:     "not your code: RabbitMQ or PostgreSQL could not be reached or refused the login; the checker exits 2 and records nothing",
}

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

// MarkerTable renders the README's marker table from shared/story's markers, in story's order.
func MarkerTable() string {
	var b strings.Builder
	b.WriteString("| marker | what happened |\n|---|---|\n")
	for _, m := range story.Markers {
		fmt.Fprintf(&b, "| **%s** | %s |\n", m, Meanings[m])
	}
	return b.String()
}

// Heading is the first line of a lab's README.
func Heading(l lab.Lab) string { return fmt.Sprintf("# Lab %d · %s", l.Number, l.Title) }

// NextText is what the "Next:" block of labs[i]'s README says.
func NextText(labs []lab.Lab, i int) string {
	if i+1 >= len(labs) {
		return "Next: that was the last lab. Back to [the kit's README](../../README.md).\n"
	}
	n := labs[i+1]
	return fmt.Sprintf("Next: [lab %d · %s](../%s/README.md).\n", n.Number, n.Title, n.Slug)
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

// edit is one generated part of a file.
type edit struct {
	what  string // "the lab table", for the problem
	apply func(data []byte) ([]byte, error)
}

type fileEdits struct {
	file  string
	edits []edit
}

func block(file, what, begin, end, text string) edit {
	return edit{what, func(data []byte) ([]byte, error) { return Replace(file, data, begin, end, text) }}
}

// plan returns every generated part of the kit's documents, by file.
func plan(c *lab.Catalog) []fileEdits {
	out := []fileEdits{{File, []edit{
		block(File, "the lab table", tableBegin, tableEnd, Table(c.Labs)),
		block(File, "the marker table", markersBegin, markersEnd, MarkerTable()),
	}}, {DevelopersFile, []edit{
		block(DevelopersFile, "the marker table", markersBegin, markersEnd, MarkerTable()),
	}}}
	for i, l := range c.Labs {
		file := path.Join(l.Dir(), "README.md")
		out = append(out, fileEdits{file, []edit{
			{"the heading", func(data []byte) ([]byte, error) { return setHeading(data, Heading(l)), nil }},
			{"the Next: line", func(data []byte) ([]byte, error) { return setNext(file, data, NextText(c.Labs, i)) }},
		}})
	}
	for _, file := range proseFiles(c.Root) {
		fe := fileEdits{file, []edit{{"the lab count in prose", func(data []byte) ([]byte, error) {
			return setCount(data, len(c.Labs)), nil
		}}}}
		if i := indexOf(out, file); i >= 0 {
			out[i].edits = append(out[i].edits, fe.edits...)
		} else {
			out = append(out, fe)
		}
	}
	return out
}

func indexOf(fes []fileEdits, file string) int {
	for i, fe := range fes {
		if fe.file == file {
			return i
		}
	}
	return -1
}

// setHeading replaces a leading "# " line, or puts the heading before the text.
func setHeading(data []byte, heading string) []byte {
	first, rest, _ := bytes.Cut(data, []byte("\n"))
	if bytes.HasPrefix(first, []byte("# ")) {
		return append([]byte(heading+"\n"), rest...)
	}
	return append([]byte(heading+"\n\n"), data...)
}

// setNext replaces the Next: block, or appends it at the end of the file.
func setNext(file string, data []byte, text string) ([]byte, error) {
	if bytes.Contains(data, []byte(nextBegin)) {
		return Replace(file, data, nextBegin, nextEnd, text)
	}
	out := bytes.TrimRight(data, "\n")
	out = append(out, []byte("\n\n"+nextBegin+" (generated by `"+Fix+"`) -->\n"+text+nextEnd+"\n")...)
	return out, nil
}

var numberWords = []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
	"eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"}

// countPhrase finds a kit-sized lab count in prose: a number of ten or more before "labs" ("fifteen labs", "16
// labs"). Smaller counts ("the first two labs") talk about some labs, not the kit.
var countPhrase = regexp.MustCompile(`(?i)\b(ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|[1-9][0-9]+)( numbered)? labs\b`)

// Spell returns n in words up to twenty, in digits above.
func Spell(n int) string {
	if n >= 0 && n < len(numberWords) {
		return numberWords[n]
	}
	return fmt.Sprint(n)
}

func setCount(data []byte, n int) []byte {
	return countPhrase.ReplaceAllFunc(data, func(m []byte) []byte {
		sub := countPhrase.FindSubmatch(m)
		word := Spell(n)
		if c := sub[1][0]; c >= 'A' && c <= 'Z' {
			word = strings.ToUpper(word[:1]) + word[1:]
		}
		return append([]byte(word), m[len(sub[1]):]...)
	})
}

// Sync rewrites every generated part that differs from the metadata and returns the files it changed. Files that
// do not exist are left alone (a test kit without README has nothing to keep current).
func Sync(c *lab.Catalog) ([]string, error) {
	var changed []string
	for _, fe := range plan(c) {
		data, err := os.ReadFile(c.Path(fe.file))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return changed, fmt.Errorf("generate %s: %w", fe.file, err)
		}
		out := data
		for _, e := range fe.edits {
			if out, err = e.apply(out); err != nil {
				return changed, err
			}
		}
		if bytes.Equal(out, data) {
			continue
		}
		if err := safefile.Write(c.Path(fe.file), out, 0o644); err != nil {
			return changed, err
		}
		changed = append(changed, fe.file)
	}
	return changed, nil
}

// Check returns one problem per generated part that differs from the metadata, and one per marker of shared/story
// that Meanings does not explain.
func Check(c *lab.Catalog) []string {
	var probs []string
	for _, m := range story.Markers {
		if Meanings[m] == "" {
			probs = append(probs, fmt.Sprintf("checker/readme: marker %s has no line in Meanings; fix: add what it means", m))
		}
	}
	for _, fe := range plan(c) {
		data, err := os.ReadFile(c.Path(fe.file))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			probs = append(probs, fmt.Sprintf("%s: %v", fe.file, err))
			continue
		}
		for _, e := range fe.edits {
			out, err := e.apply(data)
			switch {
			case err != nil:
				probs = append(probs, err.Error())
			case !bytes.Equal(out, data):
				probs = append(probs, fmt.Sprintf("%s: %s differs from the lab metadata; fix: %s", fe.file, e.what, Fix))
			}
		}
	}
	return probs
}
