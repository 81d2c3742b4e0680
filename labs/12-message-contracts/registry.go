package contracts

import "msglabs/shared/catalog"

// You do not need to edit this file (unless you add a message): it declares every message contract of this lab.
// CATALOG.md is generated from it, and a test checks the committed page is up to date and every example parses.

//go:generate go run ./cmd/catalog

// Registry is the lab's message contracts: type, version, who sends, who handles, and a golden example.
var Registry = []catalog.Contract{
	{
		Type: OrderPlacedType, Version: 1, Kind: "event", Sender: "Sales (before its last release)", Handlers: []string{"Billing"},
		Summary: "Sales accepted an order. Sent without a version header (the back office, another client, sends " +
			"message-version: 1). The coupon field was added later: an additive change, so it needed no new version.",
		Fields:   []string{"order_id (string)", "customer (string)", "amount_cents (int, euro cents)", "coupon (string, optional)"},
		Examples: []string{"testdata/orderplaced.v1.json", "testdata/orderplaced.v1-additive.json", "testdata/orderplaced.v1-explicit.json"},
	},
	{
		Type: OrderPlacedType, Version: 2, Kind: "event", Sender: "Sales", Handlers: []string{"Billing"},
		Summary: "Sales accepted an order. Header message-version: 2. Breaking change: customer became an object and " +
			"amount_cents moved to total.cents with a currency.",
		Fields:   []string{"order_id (string)", "customer.name (string)", "customer.email (string)", "total.cents (int)", "total.currency (ISO 4217)"},
		Examples: []string{"testdata/orderplaced.v2.json"},
	},
	{
		Type: InvoiceIssuedType, Version: 1, Kind: "event", Sender: "Billing", Handlers: []string{"Mailer"},
		Summary: "An order's invoice is ready to be e-mailed. The invoices queue is capped at 1 MiB: a PDF does not " +
			"travel inside the message.",
	},
}

// CatalogPage renders CATALOG.md from Registry.
func CatalogPage() []byte {
	return catalog.Markdown("Lab 12 · message catalog", "registry.go by `go generate ./labs/12-message-contracts/`", Registry)
}
