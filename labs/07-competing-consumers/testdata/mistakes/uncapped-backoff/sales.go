// Mistake uncapped-backoff: the wait doubled after every refusal with no cap, so after a long outage Sales sleeps for seconds while the queue has room
// Why an attendee writes it: exponential back-off is the textbook answer; the README mentions a cap, but the test only checks that Sales waits at least 5 ms.

package competing

import (
	"context"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/shop"
)

// Back-off after the broker refuses a BillOrder because Billing's queue is full.
const firstBackoff = 10 * time.Millisecond

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
	backoff := firstBackoff
	for {
		accepted, err := s.publish(ctx, ch, msg)
		if err != nil || accepted {
			return err
		}
		if err := wait(ctx, backoff); err != nil {
			return fmt.Errorf("BillOrder %s still refused when giving up: %w", order.OrderID, err)
		}
		backoff *= 2
	}
}

// wait pauses for d, or returns ctx's error if ctx is done first.
func wait(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
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
