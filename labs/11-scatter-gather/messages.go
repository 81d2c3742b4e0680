package gather

import (
	"encoding/json"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"
)

// You do not need to edit this file: it holds the messages of a quote round and the exchange they travel on.

// QuoteRequest is what Sales asks every carrier: "what would you charge to ship this order?"
type QuoteRequest struct {
	OrderID string `json:"order_id"`
	Grams   int    `json:"grams"`
}

// QuoteReply is a carrier's answer. Like most carrier APIs it carries the price and nothing about the question:
// which request it answers travels in the AMQP correlation-id property, if the asker set one.
type QuoteReply struct {
	Carrier string `json:"carrier"`
	Cents   int    `json:"cents"`
}

// Quote is the offer Sales shows the customer at checkout.
type Quote struct {
	Carrier string
	Cents   int
}

// String reads like "parcelline 22.00".
func (q Quote) String() string { return fmt.Sprintf("%s %s", q.Carrier, Money(q.Cents)) }

// Money formats cents as "22.00".
func Money(cents int) string { return fmt.Sprintf("%d.%02d", cents/100, cents%100) }

// Message type names, sent in the AMQP "type" property.
const (
	QuoteRequestType = "QuoteRequest"
	QuoteReplyType   = "QuoteReply"
)

// DeclareQuoteExchange declares the fanout exchange quote requests are published to: every carrier binds its own
// queue to it, so one publish reaches them all (the "scatter"). Declaring is idempotent: Sales and carriers both do it.
func DeclareQuoteExchange(ch *amqp.Channel, exchange string) error {
	err := ch.ExchangeDeclare(exchange, amqp.ExchangeFanout,
		true,  // durable
		false, // autoDelete
		false, // internal
		false, // noWait
		nil)
	if err != nil {
		return fmt.Errorf("declare exchange %q: %w", exchange, err)
	}
	return nil
}

// decode reads a JSON body into v, naming the message type in the error.
func decode(body []byte, typ string, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode %s: %w", typ, err)
	}
	return nil
}
