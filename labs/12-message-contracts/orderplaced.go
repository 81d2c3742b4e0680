package contracts

import (
	"encoding/json"
	"fmt"

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

// ReadOrderPlaced turns a delivered OrderPlaced into Billing's PlacedOrder.
func ReadOrderPlaced(d amqp.Delivery) (PlacedOrder, error) {
	// TODO(lab): step 2. Billing only knows version 1, and Sales now also sends version 2: "customer" became an
	// object and "amount_cents" moved to "total.cents", so a v2 body does not fit here and Billing rejects the order.
	// Read every version still in flight, as its sender declares it in the VersionHeader (no header: version 1), so
	// that the rest of Billing sees one model; stay tolerant of fields you do not use.
	var v1 OrderPlacedV1
	if err := json.Unmarshal(d.Body, &v1); err != nil {
		return PlacedOrder{}, fmt.Errorf("decode %s: %w", OrderPlacedType, err)
	}
	return PlacedOrder{OrderID: v1.OrderID, Customer: v1.Customer, Cents: v1.Cents, Currency: "EUR"}, nil
}
