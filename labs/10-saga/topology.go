package saga

import (
	"context"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/shop"
)

// You do not need to edit this file: it holds the policy's messages, its queues, and how it sends.

// Commands the shipping policy sends besides shop.ShipOrder.
type (
	// ReleaseStock asks the warehouse to put back the items it set aside for an order (a compensation).
	ReleaseStock struct {
		OrderID string `json:"order_id"`
	}
	// RefundOrder asks Billing to give the money for an order back (a compensation).
	RefundOrder struct {
		OrderID string `json:"order_id"`
		Cents   int    `json:"amount_cents"`
	}
	// PaymentTimeout is the policy's reminder to itself: "if order X is still unpaid now, cancel it".
	PaymentTimeout struct {
		OrderID string `json:"order_id"`
	}
)

// MessageType names ReleaseStock on the wire.
func (ReleaseStock) MessageType() string { return "ReleaseStock" }

// MessageType names RefundOrder on the wire.
func (RefundOrder) MessageType() string { return "RefundOrder" }

// MessageType names PaymentTimeout on the wire.
func (PaymentTimeout) MessageType() string { return "PaymentTimeout" }

// Topology names everything the shipping policy talks to.
type Topology struct {
	Events    string // topic exchange where Sales and Billing publish events, routing key = message type
	Policy    string // the policy's own queue: OrderPlaced and OrderBilled (bound from Events), and its timeouts
	Timeouts  string // a delay queue: nobody consumes it; a message expires after its TTL and moves to Policy
	Shipping  string // ShipOrder commands
	Warehouse string // ReleaseStock commands
	Billing   string // RefundOrder commands
}

// Declare declares the exchange, the queues (all durable) and the bindings. Declaring is idempotent.
//
// Timeouts is a delay queue: it has no consumer, and its dead-letter settings send every message that expires (after
// the per-message TTL its publisher set in Expiration) through the default exchange to the Policy queue. A timeout
// that waits there survives a restart of the policy, because it lives in the broker, not in the process.
func (t Topology) Declare(ch *amqp.Channel) error {
	err := ch.ExchangeDeclare(t.Events, "topic",
		true,  // durable
		false, // autoDelete
		false, // internal
		false, // noWait
		nil)
	if err != nil {
		return fmt.Errorf("declare exchange %q: %w", t.Events, err)
	}
	for _, q := range []string{t.Policy, t.Shipping, t.Warehouse, t.Billing} {
		if err := declareQueue(ch, q, nil); err != nil {
			return err
		}
	}
	err = declareQueue(ch, t.Timeouts, amqp.Table{
		"x-dead-letter-exchange":    "",       // the default exchange…
		"x-dead-letter-routing-key": t.Policy, // …routes an expired timeout to the policy's queue
	})
	if err != nil {
		return err
	}
	for _, event := range []string{shop.OrderPlaced{}.MessageType(), shop.OrderBilled{}.MessageType()} {
		if err := ch.QueueBind(t.Policy, event, t.Events, false, nil); err != nil { // noWait=false
			return fmt.Errorf("bind %q to %q for %s: %w", t.Policy, t.Events, event, err)
		}
	}
	return nil
}

func declareQueue(ch *amqp.Channel, queue string, args amqp.Table) error {
	_, err := ch.QueueDeclare(queue,
		true,  // durable
		false, // autoDelete
		false, // exclusive
		false, // noWait
		args)
	if err != nil {
		return fmt.Errorf("declare queue %q: %w", queue, err)
	}
	return nil
}

// sendTimeout caps the wait for the broker to confirm one message.
const sendTimeout = 5 * time.Second

// send publishes m persistently to queue through the default exchange, with the given message id, and waits for the
// broker's confirm. A non-zero delay sets the message's TTL (Expiration), for the Timeouts queue. ch must be in
// confirm mode and is used by one goroutine at a time.
func send(ctx context.Context, ch *amqp.Channel, queue, messageID string, m shop.Message, delay time.Duration) error {
	body, err := shop.Encode(m)
	if err != nil {
		return err
	}
	msg := amqp.Publishing{
		MessageId:    messageID,
		Type:         m.MessageType(),
		ContentType:  shop.ContentType,
		DeliveryMode: amqp.Persistent,
		Body:         body,
	}
	if delay > 0 {
		msg.Expiration = fmt.Sprint(delay.Milliseconds()) // per-message TTL, in milliseconds, as a string
	}
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx,
		"",    // exchange: the default exchange routes by queue name
		queue, // routing key
		false, // mandatory
		false, // immediate
		msg)
	if err != nil {
		return fmt.Errorf("send %s %s: %w", m.MessageType(), messageID, err)
	}
	ok, err := dc.WaitContext(ctx)
	if err != nil {
		return fmt.Errorf("wait for the confirm of %s: %w", messageID, err)
	}
	if !ok {
		return fmt.Errorf("the broker refused %s", messageID)
	}
	return nil
}
