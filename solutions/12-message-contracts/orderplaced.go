//go:build solution

// Why this fix: a consumer must read every version that can still be in flight, and the sender must say which one it
// sent. Billing now reads the version header (none means v1), in whatever type the sender's client wrote it (a string,
// or any AMQP integer), decodes each version into its own struct and upcasts v1 to v2, so the rest of Billing sees
// one model; it ignores fields it does not use (a tolerant reader), which is what lets senders make additive changes
// without a new version. The golden examples in testdata/ pin every version down, and an unknown version is refused
// loudly rather than guessed from its shape. This is one good answer, not the only one: a schema registry (Avro,
// Protobuf with field numbers) can enforce compatibility before a sender ever deploys.

package contracts

import (
	"encoding/json"
	"fmt"
	"strconv"

	amqp "github.com/rabbitmq/amqp091-go"
)

// OrderPlacedType names OrderPlaced on the wire (the AMQP "type" property).
const OrderPlacedType = "OrderPlaced"

// VersionHeader is the AMQP header in which a sender says which version of a message's contract the body follows.
// Sales sets it since version 2; a message without it is version 1.
const VersionHeader = "message-version"

// OrderPlacedV1 is OrderPlaced as Sales first published it.
type OrderPlacedV1 struct {
	OrderID  string `json:"order_id"`
	Customer string `json:"customer"`
	Cents    int    `json:"amount_cents"`
}

// OrderPlacedV2 is OrderPlaced as Sales publishes it since its last release: the customer became an object (Shipping
// wanted the e-mail address) and the amount moved into a total with a currency (the shop now sells abroad).
type OrderPlacedV2 struct {
	OrderID  string   `json:"order_id"`
	Customer Customer `json:"customer"`
	Total    Total    `json:"total"`
}

// Customer is who placed an order (OrderPlaced v2).
type Customer struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// Total is what an order costs (OrderPlaced v2).
type Total struct {
	Cents    int    `json:"cents"`
	Currency string `json:"currency"`
}

// PlacedOrder is what Billing needs to know about a placed order, whichever version of OrderPlaced told it.
type PlacedOrder struct {
	OrderID  string
	Customer string
	Cents    int
	Currency string
}

// ReadOrderPlaced turns a delivered OrderPlaced into Billing's PlacedOrder. It reads the contract version from the
// VersionHeader, decodes each version into its own struct, and upcasts v1 to v2, so only one shape reaches Billing.
// It is a tolerant reader: fields it does not know (an additive change, like v1's later "coupon") are ignored.
func ReadOrderPlaced(d amqp.Delivery) (PlacedOrder, error) {
	version, err := versionOf(d)
	if err != nil {
		return PlacedOrder{}, err
	}
	var v2 OrderPlacedV2
	switch version {
	case 1:
		var v1 OrderPlacedV1
		if err := decode(d.Body, &v1); err != nil {
			return PlacedOrder{}, err
		}
		v2 = upcastV1(v1)
	case 2:
		if err := decode(d.Body, &v2); err != nil {
			return PlacedOrder{}, err
		}
	default:
		// A new version number means a breaking change Billing has not learnt yet: refuse it loudly.
		return PlacedOrder{}, fmt.Errorf("%s version %d: Billing reads versions 1 and 2", OrderPlacedType, version)
	}
	return PlacedOrder{OrderID: v2.OrderID, Customer: v2.Customer.Name, Cents: v2.Total.Cents, Currency: v2.Total.Currency}, nil
}

// v1Currency is the currency of every v1 amount: the shop sold in euros only before v2.
const v1Currency = "EUR"

// upcastV1 turns a v1 event into the v2 shape. What v1 never carried (the e-mail address) stays empty.
func upcastV1(v1 OrderPlacedV1) OrderPlacedV2 {
	return OrderPlacedV2{
		OrderID:  v1.OrderID,
		Customer: Customer{Name: v1.Customer},
		Total:    Total{Cents: v1.Cents, Currency: v1Currency},
	}
}

// versionOf reads the VersionHeader: no header means version 1 (Sales did not send one before v2). An AMQP header is
// typed, and senders' client libraries pick the type: a version may come as a string ("2") or as any integer type
// ('b', 'B', 's', 'u', 'I', 'i', 'l'); each means the same number.
func versionOf(d amqp.Delivery) (int, error) {
	raw, ok := d.Headers[VersionHeader]
	if !ok {
		return 1, nil
	}
	switch v := raw.(type) {
	case string:
		return versionNumber(v)
	case int8, uint8, int16, uint16, int32, uint32, int64: // every integer type an AMQP header can carry
		return versionNumber(fmt.Sprint(v))
	default:
		return 0, fmt.Errorf("header %s: %v (%T) is not a version number", VersionHeader, raw, raw)
	}
}

func versionNumber(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("header %s: %q is not a version number", VersionHeader, s)
	}
	return n, nil
}

func decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode %s: %w", OrderPlacedType, err)
	}
	return nil
}
