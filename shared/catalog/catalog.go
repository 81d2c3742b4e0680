// Package catalog renders an event catalog: every message type a system sends, in which versions, who sends it and
// who handles it, as a Markdown page. Labs declare their contracts in Go (a []Contract) and generate the page from
// it, so the catalog cannot drift from the code: a test compares the committed page with a fresh rendering.
package catalog

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
)

// Contract is one version of one message type.
type Contract struct {
	Type     string   // the name on the wire (the AMQP "type" property): "OrderPlaced"
	Version  int      // 1, 2, …
	Kind     string   // "command" (one owner, "please do") or "event" (any subscribers, "this happened")
	Sender   string   // the service that sends it: "Sales"
	Handlers []string // the services that handle it: "Billing", "Shipping"
	Summary  string   // one sentence: what it says
	Fields   []string // the body's fields, e.g. "order_id (string)", "total.cents (int)"
	Examples []string // golden examples, relative to the page: "testdata/orderplaced.v2.json"
}

// Markdown renders contracts as a page titled title, grouped by type, versions in order. source names where the
// contracts are declared and how to regenerate the page; it is printed under the title.
func Markdown(title, source string, contracts []Contract) []byte {
	sorted := append([]Contract(nil), contracts...)
	sort.SliceStable(sorted, func(i, j int) bool {
		if sorted[i].Type != sorted[j].Type {
			return sorted[i].Type < sorted[j].Type
		}
		return sorted[i].Version < sorted[j].Version
	})
	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s\n\n", title)
	fmt.Fprintf(&b, "<!-- Generated from %s. Do not edit by hand. -->\n\n", source)
	b.WriteString("| message | version | kind | sent by | handled by |\n|---|---|---|---|---|\n")
	for _, c := range sorted {
		fmt.Fprintf(&b, "| %s | v%d | %s | %s | %s |\n", c.Type, c.Version, c.Kind, c.Sender, orNone(c.Handlers))
	}
	for _, c := range sorted {
		fmt.Fprintf(&b, "\n## %s v%d\n\n%s\n", c.Type, c.Version, c.Summary)
		if len(c.Fields) > 0 {
			b.WriteString("\nFields:\n\n")
			for _, f := range c.Fields {
				fmt.Fprintf(&b, "- `%s`\n", f)
			}
		}
		if len(c.Examples) > 0 {
			b.WriteString("\nGolden examples:")
			for _, e := range c.Examples {
				fmt.Fprintf(&b, " [%s](%s)", e, e)
			}
			b.WriteString("\n")
		}
	}
	return b.Bytes()
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "(nobody yet)"
	}
	return strings.Join(names, ", ")
}
