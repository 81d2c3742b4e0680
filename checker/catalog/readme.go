package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// ReadmeFile is the kit's README, whose lab table is generated from labs.yaml.
const ReadmeFile = "README.md"

// The lines between which the README's lab table is generated. Only the prefix of the begin line is matched, so its
// explanation can change.
const (
	tableBegin = "<!-- labs:begin"
	tableEnd   = "<!-- labs:end -->"
)

// ReadmeTable renders the lab table of the README from the catalog: the one metadata source stays the only one.
func ReadmeTable(labs []Lab) string {
	var b strings.Builder
	b.WriteString("| # | lab | the starter shows | what goes wrong |\n|---|---|---|---|\n")
	for _, l := range labs {
		fmt.Fprintf(&b, "| %d | [%s](labs/%s/README.md) | **%s** | %s |\n", l.Number, l.Title, l.Slug, l.Failure,
			strings.ReplaceAll(l.Summary, "|", `\|`))
	}
	return b.String()
}

// RewriteReadme replaces what stands between the table markers of a README with table.
func RewriteReadme(data []byte, table string) ([]byte, error) {
	begin := bytes.Index(data, []byte(tableBegin))
	if begin < 0 {
		return nil, fmt.Errorf("%s has no %q line", ReadmeFile, tableBegin)
	}
	afterBegin := bytes.IndexByte(data[begin:], '\n')
	end := bytes.Index(data, []byte(tableEnd))
	if afterBegin < 0 || end < begin {
		return nil, fmt.Errorf("%s: %q must follow %q", ReadmeFile, tableEnd, tableBegin)
	}
	start := begin + afterBegin + 1
	out := append([]byte{}, data[:start]...)
	out = append(out, table...)
	return append(out, data[end:]...), nil
}

// sealReadme regenerates the README's lab table; it reports whether the file changed.
func (c *Catalog) sealReadme() (bool, error) {
	path := c.Path(ReadmeFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil // a kit without README (a test kit) has no table to keep current
	}
	if err != nil {
		return false, fmt.Errorf("seal readme: %w", err)
	}
	out, err := RewriteReadme(data, ReadmeTable(c.Labs))
	if err != nil {
		return false, err
	}
	if bytes.Equal(out, data) {
		return false, nil
	}
	return true, WriteFileAtomic(path, out, 0o644)
}

// checkReadme reports a stale lab table.
func (c *Catalog) checkReadme() []Stale {
	data, err := os.ReadFile(c.Path(ReadmeFile))
	if err != nil {
		return nil // a kit without README (a test kit) has no table to keep current
	}
	out, err := RewriteReadme(data, ReadmeTable(c.Labs))
	if err != nil {
		return []Stale{{File: ReadmeFile, Reason: err.Error()}}
	}
	if !bytes.Equal(out, data) {
		return []Stale{{File: ReadmeFile, Reason: "the lab table differs from labs/labs.yaml (run `go run ./checker seal`)"}}
	}
	return nil
}
