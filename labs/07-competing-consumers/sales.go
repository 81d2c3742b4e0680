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

// SendBills sends one BillOrder per order, in order, each confirmed before the next. It returns when all are sent,
// when one cannot be sent, or when ctx is done.
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

// send publishes one BillOrder and waits for the broker's confirm.
func (s *Sales) send(ctx context.Context, ch *amqp.Channel, order shop.BillOrder) error {
	msg, err := billOrderMessage(order)
	if err != nil {
		return err
	}
	accepted, err := s.publish(ctx, ch, msg)
	if err != nil {
		return err
	}
	// TODO(lab): a negative confirm (accepted == false) is the broker saying "Billing's queue is full": that is
	// back-pressure, not a failure. Giving up here loses the order; trying again at once hammers the broker with
	// publishes it will refuse; waiting longer and longer leaves the queue idle once it has room again.
	if !accepted {
		return fmt.Errorf("the broker refused BillOrder %s", order.OrderID)
	}
	return nil
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
