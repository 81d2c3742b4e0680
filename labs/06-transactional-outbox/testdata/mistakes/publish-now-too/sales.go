// Mistake publish-now-too: OrderPlaced was published at once after the commit as well as written to the outbox, so every event goes out twice with nothing failing
// Why an attendee writes it: the relay polls, so publishing at once saves Billing the wait; the outbox row is the safety net, and the same message id lets Billing's inbox drop the copy.

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
	evt := shop.OrderPlaced{OrderID: cmd.OrderID, Customer: cmd.Customer, Cents: cmd.Cents}
	id := uuid.NewString()
	body, err := shop.Encode(evt)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx,
		`INSERT INTO outbox (message_id, message_type, routing_key, headers, body) VALUES ($1, $2, $3, $4, $5)`,
		id, evt.MessageType(), OrderPlacedKey, s.eventHeaders(ctx), body)
	if err != nil {
		return fmt.Errorf("add OrderPlaced %s to the outbox: %w", evt.OrderID, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit order %s: %w", cmd.OrderID, err)
	}
	// Publish right away, so Billing hears of the order without waiting for the relay; the outbox row is the safety
	// net, and it carries the same message id, so Billing's inbox drops the relay's copy.
	if err := s.publish(ctx, id, evt); err != nil {
		s.logf("publish OrderPlaced %s now: %v; the relay will send it", evt.OrderID, err)
	}
	return nil
}

// publish sends one OrderPlaced event with the given message id persistently and waits for the broker's confirm (lab 4).
func (s *Sales) publish(ctx context.Context, id string, evt shop.OrderPlaced) error {
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
			MessageId:    id,
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
