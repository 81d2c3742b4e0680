// Mistake publish-first: OrderPlaced was published before the order committed, so a rolled-back order is announced anyway
// Why an attendee writes it: the crash after the commit loses the event, so moving the publish before the commit looks like closing the gap.

package outbox

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/shop"
)

// PlaceOrder stores the order and tells the other services it was placed (OrderPlaced on Sales' exchange).
func (s *Sales) PlaceOrder(ctx context.Context, cmd shop.PlaceOrder) error {
	tx, err := s.DB.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(ctx) // does nothing once committed
	_, err = tx.Exec(ctx, `INSERT INTO orders (id, customer, cents) VALUES ($1, $2, $3)`,
		cmd.OrderID, cmd.Customer, cmd.Cents)
	if err != nil {
		return fmt.Errorf("store order %s: %w", cmd.OrderID, err)
	}
	// Announce first: once the broker has confirmed OrderPlaced, the commit can no longer lose it.
	if err := s.publish(ctx, shop.OrderPlaced{OrderID: cmd.OrderID, Customer: cmd.Customer, Cents: cmd.Cents}); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit order %s: %w", cmd.OrderID, err)
	}
	return nil
}

// publish sends one OrderPlaced event persistently and waits for the broker's confirm (lab 4).
func (s *Sales) publish(ctx context.Context, evt shop.OrderPlaced) error {
	body, err := shop.Encode(evt)
	if err != nil {
		return err
	}
	ch, err := s.Broker.Channel() // a channel per request: channels are not safe for concurrent use
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	if err := ch.Confirm(false); err != nil { // noWait=false
		return fmt.Errorf("confirm mode: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, confirmTimeout)
	defer cancel()
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, s.Exchange, OrderPlacedKey,
		false, // mandatory
		false, // immediate
		amqp.Publishing{
			MessageId:    uuid.NewString(),
			Type:         evt.MessageType(),
			ContentType:  shop.ContentType,
			DeliveryMode: amqp.Persistent,
			Headers:      headerTable(s.eventHeaders(ctx)),
			Body:         body,
		})
	if err != nil {
		return fmt.Errorf("publish OrderPlaced %s: %w", evt.OrderID, err)
	}
	ok, err := dc.WaitContext(ctx)
	if err != nil {
		return fmt.Errorf("wait for the confirm of OrderPlaced %s: %w", evt.OrderID, err)
	}
	if !ok {
		return fmt.Errorf("the broker refused OrderPlaced %s (negative confirm)", evt.OrderID)
	}
	return nil
}
