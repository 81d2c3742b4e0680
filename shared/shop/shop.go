// Package shop holds the messages of the workshop's shop, shared by every lab: ClientUI sends PlaceOrder to Sales,
// Sales publishes OrderPlaced, Billing charges and publishes OrderBilled, Shipping ships. Commands are sent to one
// owner; events are published to whoever subscribes.
package shop

import (
	"encoding/json"
	"fmt"
)

// Message is anything the shop sends: it knows its type name, which travels in the AMQP "type" property.
type Message interface {
	MessageType() string
}

// Commands: one sender, one owner, "please do this".
type (
	// PlaceOrder asks Sales to accept an order.
	PlaceOrder struct {
		OrderID  string `json:"order_id"`
		Customer string `json:"customer"`
		Cents    int    `json:"amount_cents"`
	}
	// BillOrder asks Billing to charge for an order.
	BillOrder struct {
		OrderID string `json:"order_id"`
		Cents   int    `json:"amount_cents"`
	}
	// ShipOrder asks Shipping to ship an order.
	ShipOrder struct {
		OrderID string `json:"order_id"`
	}
)

// Events: one publisher, any number of subscribers, "this happened".
type (
	// OrderPlaced says Sales accepted an order.
	OrderPlaced struct {
		OrderID  string `json:"order_id"`
		Customer string `json:"customer"`
		Cents    int    `json:"amount_cents"`
	}
	// OrderBilled says Billing charged for an order.
	OrderBilled struct {
		OrderID string `json:"order_id"`
		Cents   int    `json:"amount_cents"`
	}
	// OrderShipped says Shipping sent an order out.
	OrderShipped struct {
		OrderID string `json:"order_id"`
	}
	// OrderCancelled says an order will not go ahead.
	OrderCancelled struct {
		OrderID string `json:"order_id"`
		Reason  string `json:"reason"`
	}
)

// MessageType names PlaceOrder on the wire.
func (PlaceOrder) MessageType() string { return "PlaceOrder" }

// MessageType names BillOrder on the wire.
func (BillOrder) MessageType() string { return "BillOrder" }

// MessageType names ShipOrder on the wire.
func (ShipOrder) MessageType() string { return "ShipOrder" }

// MessageType names OrderPlaced on the wire.
func (OrderPlaced) MessageType() string { return "OrderPlaced" }

// MessageType names OrderBilled on the wire.
func (OrderBilled) MessageType() string { return "OrderBilled" }

// MessageType names OrderShipped on the wire.
func (OrderShipped) MessageType() string { return "OrderShipped" }

// MessageType names OrderCancelled on the wire.
func (OrderCancelled) MessageType() string { return "OrderCancelled" }

// ContentType is how every shop message is encoded.
const ContentType = "application/json"

// Encode turns a message into its JSON body.
func Encode(m Message) ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", m.MessageType(), err)
	}
	return b, nil
}

// Decode reads a JSON body into m (a pointer to a message struct).
func Decode(body []byte, m Message) error {
	if err := json.Unmarshal(body, m); err != nil {
		return fmt.Errorf("decode %s: %w", m.MessageType(), err)
	}
	return nil
}

// OrderID is the readable id of the nth order in a test: "o-1", "o-2", …
func OrderID(n int) string { return fmt.Sprintf("o-%d", n) }
