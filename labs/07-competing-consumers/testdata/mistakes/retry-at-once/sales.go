// Mistake retry-at-once: a refused BillOrder was sent again at once, so Sales hammers the full queue with publishes the broker must refuse
// Why an attendee writes it: the confirm round trip already takes a moment, so a wait of its own looks unnecessary.

package competing

import (
	"context"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/shop"
)

// Sales sends Billing a BillOrder command for every accepted order, with publisher confirms (lab 4): a command only
// counts as sent once the broker has confirmed it. A Sales is safe for concurrent use: each SendBills call opens its
// own channel.
type Sales struct {
	Queue string // Billing's queue
}

// SendBills sends one BillOrder per order, in order, each confirmed before the next; while Billing's queue is full it
// waits. It returns when all are sent, when one cannot be sent, or when ctx is done.
func (s *Sales) SendBills(ctx context.Context, conn *amqp.Connection, orders []shop.BillOrder) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	if err := ch.Confirm(false); err != nil { // noWait=false
		return fmt.Errorf("confirm mode: %w", err)
	}
	if err := DeclareBillingQueue(ch, s.Queue); err != nil {
		return err
	}
	for _, order := range orders {
		if err := s.send(ctx, ch, order); err != nil {
			return err
		}
	}
	return nil
}

// send publishes one BillOrder and waits for the broker's confirm. A refusal (negative confirm) means Billing's queue
// is full: it waits, longer after each refusal, and sends the same message again until the broker takes it.
func (s *Sales) send(ctx context.Context, ch *amqp.Channel, order shop.BillOrder) error {
	msg, err := billOrderMessage(order)
	if err != nil {
		return err
	}
	for {
		accepted, err := s.publish(ctx, ch, msg)
		if err != nil || accepted {
			return err
		}
		if err := ctx.Err(); err != nil { // the broker said no: ask again until it says yes
			return fmt.Errorf("BillOrder %s still refused when giving up: %w", order.OrderID, err)
		}
	}
}

// publish sends msg to Billing's queue and reports whether the broker accepted it (a positive confirm).
func (s *Sales) publish(ctx context.Context, ch *amqp.Channel, msg amqp.Publishing) (bool, error) {
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx,
		"",      // exchange: the default exchange routes by queue name
		s.Queue, // routing key
		false,   // mandatory
		false,   // immediate
		msg)
	if err != nil {
		return false, fmt.Errorf("publish %s: %w", msg.MessageId, err)
	}
	accepted, err := dc.WaitContext(ctx)
	if err != nil {
		return false, fmt.Errorf("wait for confirm of %s: %w", msg.MessageId, err)
	}
	return accepted, nil
}

// billOrderMessage builds the persistent BillOrder message for order, stamped with when it was sent.
func billOrderMessage(order shop.BillOrder) (amqp.Publishing, error) {
	body, err := shop.Encode(order)
	if err != nil {
		return amqp.Publishing{}, err
	}
	return amqp.Publishing{
		MessageId:    "bill-" + order.OrderID,
		Type:         order.MessageType(),
		ContentType:  shop.ContentType,
		DeliveryMode: amqp.Persistent,
		Headers:      amqp.Table{SentAtHeader: time.Now().UnixMilli()},
		Body:         body,
	}, nil
}
