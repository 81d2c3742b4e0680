package catalog

import (
	"strings"
	"testing"
)

func TestMarkdownGroupsTypesAndOrdersVersions(t *testing.T) {
	page := string(Markdown("Events", "registry.go", []Contract{
		{Type: "OrderPlaced", Version: 2, Kind: "event", Sender: "Sales", Handlers: []string{"Billing"}, Summary: "v2."},
		{Type: "InvoiceIssued", Version: 1, Kind: "event", Sender: "Billing", Summary: "inv.", Fields: []string{"order_id (string)"}},
		{Type: "OrderPlaced", Version: 1, Kind: "event", Sender: "Sales", Handlers: []string{"Billing", "Shipping"}, Summary: "v1.", Examples: []string{"testdata/v1.json", "testdata/v1b.json"}},
	}))
	for _, want := range []string{
		"# Events\n",
		"Generated from registry.go",
		"| InvoiceIssued | v1 | event | Billing | (nobody yet) |",
		"| OrderPlaced | v1 | event | Sales | Billing, Shipping |",
		"- `order_id (string)`",
		"Golden examples: [testdata/v1.json](testdata/v1.json) [testdata/v1b.json](testdata/v1b.json)\n",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
	inv, v1, v2 := strings.Index(page, "## InvoiceIssued v1"), strings.Index(page, "## OrderPlaced v1"), strings.Index(page, "## OrderPlaced v2")
	if !(inv >= 0 && inv < v1 && v1 < v2) {
		t.Errorf("sections out of order (InvoiceIssued v1 at %d, OrderPlaced v1 at %d, v2 at %d)", inv, v1, v2)
	}
}

func TestMarkdownIsStable(t *testing.T) {
	cs := []Contract{{Type: "B", Version: 1}, {Type: "A", Version: 3}, {Type: "A", Version: 1}}
	if a, b := string(Markdown("x", "y", cs)), string(Markdown("x", "y", cs)); a != b {
		t.Fatal("two renderings of the same contracts differ")
	}
	if cs[0].Type != "B" {
		t.Fatal("Markdown reordered the caller's slice")
	}
}
