//go:build solution

// Why this test: a producer's contract is the messages it publishes, all of them: the body, and the properties and
// headers that say how to read it. The test drives Sales through its own API, reads what it published from a queue of
// the test's own (no consumer of the shop runs), and holds it to the golden example the consumers are tested with:
// the type, the version header and the body. Then it reads the message the way Billing will, because an example can
// be incomplete but the consumer's reader is what decides. This is one good answer, not the only one: a consumer-
// driven contract (Billing publishing what it relies on, checked in Sales' build, as Pact does for messages) goes
// further, and a test that only compares bodies would have let the release candidate through.

package contracts

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"

	"msglabs/shared/harness"
	"msglabs/shared/story"
)

// TestSalesPublishesTheContract drives Sales through Place, in isolation from the rest of the shop, and checks what
// it publishes against the contract of OrderPlaced v2.
func TestSalesPublishesTheContract(t *testing.T) {
	env := harness.New(t)
	exchange := env.Name("sales")
	sales, err := NewSales(confirmChannel(env, env.Process("sales")), exchange)
	if err != nil {
		t.Fatal(err)
	}
	published := tapExchange(env, exchange, OrderPlacedType)

	// The order of the golden example, placed through Sales' own API.
	golden := loadFixture(t, filepath.Join("testdata", "orderplaced.v2.json"))
	order := Order{ID: "o-2", Customer: Customer{Name: "bob", Email: "bob@example.com"}, Total: Total{Cents: 4200, Currency: "GBP"}}
	if err := sales.Place(env.Context(), order); err != nil {
		t.Fatalf("Sales could not place %s: %v", order.ID, err)
	}
	d := published.next("Sales' OrderPlaced for " + order.ID)

	consequence := fmt.Sprintf("Billing reads it as its contract says and could not charge %s: the order would never be charged", order.ID)
	if d.Type != golden.Type {
		env.Fail(story.Lost, "Sales published %s as type %q, but the contract (testdata/orderplaced.v2.json) says %q; %s",
			order.ID, d.Type, golden.Type, consequence)
	}
	if got, ok := d.Headers[VersionHeader]; !ok || fmt.Sprint(got) != golden.Headers[VersionHeader] {
		sent := fmt.Sprintf("with %s %v", VersionHeader, got)
		if !ok {
			sent = "without a " + VersionHeader + " header"
		}
		env.Fail(story.Lost, "Sales published OrderPlaced for %s %s, but the contract (testdata/orderplaced.v2.json) says "+
			"%s: %s: a message without it is version 1 to Billing, and a v2 body does not read as v1, so %s would never "+
			"be charged", order.ID, sent, VersionHeader, golden.Headers[VersionHeader], order.ID)
	}
	var body, want any
	if err := json.Unmarshal(d.Body, &body); err != nil {
		env.Fail(story.Lost, "Sales published OrderPlaced for %s with a body that is not JSON (%v); %s", order.ID, err, consequence)
	}
	if err := json.Unmarshal(golden.Body, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(body, want) {
		env.Fail(story.Lost, "Sales published OrderPlaced for %s as %s, but the contract (testdata/orderplaced.v2.json) says %s",
			order.ID, d.Body, golden.Body)
	}
	placed, err := ReadOrderPlaced(d)
	if err != nil || placed.OrderID != order.ID || placed.Cents != order.Total.Cents || placed.Currency != order.Total.Currency {
		env.Fail(story.Lost, "Billing's reader makes %+v (error: %v) of what Sales published for %s; %s", placed, err, order.ID, consequence)
	}
}
