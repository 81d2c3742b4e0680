package coupling

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/shop"
)

// You do not need to edit this file: Sales already listens both ways. It keeps its old HTTP endpoint, and its team
// has added a consumer on a durable queue. Only ClientUI (clientui.go) still calls Sales synchronously.

// Schema is Sales' table of accepted orders.
const Schema = `CREATE TABLE orders (
	id       text PRIMARY KEY,
	customer text NOT NULL,
	cents    int  NOT NULL
)`

// Sales accepts orders and stores them. A Sales is safe for concurrent use.
type Sales struct {
	DB *pgxpool.Pool
}

// Accept stores an order. Accepting the same order twice is harmless (it is stored once).
func (s *Sales) Accept(ctx context.Context, cmd shop.PlaceOrder) error {
	_, err := s.DB.Exec(ctx,
		`INSERT INTO orders (id, customer, cents) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING`,
		cmd.OrderID, cmd.Customer, cmd.Cents)
	if err != nil {
		return fmt.Errorf("store order %s: %w", cmd.OrderID, err)
	}
	return nil
}

// ServeHTTP is Sales' old synchronous endpoint: POST /orders with a PlaceOrder body.
func (s *Sales) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var cmd shop.PlaceOrder
	if err := json.NewDecoder(r.Body).Decode(&cmd); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := s.Accept(r.Context(), cmd); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

// Consume takes PlaceOrder commands from Sales' durable queue until ctx is done, acking each one after it is stored.
// It owns the channel it opens on conn. When ctx is done the library cancels the consumer and closes deliveries, and
// only then does Consume close the channel: closing it while the cancel is still on its way can hang.
func (s *Sales) Consume(ctx context.Context, conn *amqp.Connection, queue string) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	if err := DeclareSalesQueue(ch, queue); err != nil {
		return err
	}
	deliveries, err := ch.ConsumeWithContext(ctx, queue,
		"",    // consumer tag: let the library choose
		false, // autoAck: we ack after the order is stored
		false, // exclusive
		false, // noLocal
		false, // noWait
		nil)
	if err != nil {
		return fmt.Errorf("consume %q: %w", queue, err)
	}
	for d := range deliveries {
		var cmd shop.PlaceOrder
		if err := shop.Decode(d.Body, &cmd); err != nil {
			_ = d.Reject(false) // requeue=false: a malformed command will never parse (lab 9 does better)
			continue
		}
		if err := s.Accept(ctx, cmd); err != nil {
			_ = d.Nack(false, true) // multiple=false, requeue=true: try again (or another instance will)
			continue
		}
		if err := d.Ack(false); err != nil {
			return fmt.Errorf("ack %s: %w", d.MessageId, err)
		}
	}
	return nil
}

// DeclareSalesQueue declares Sales' queue: durable, so it (and the persistent messages in it) survive a broker
// restart. Declaring is idempotent, so both the sender and the receiver may do it.
func DeclareSalesQueue(ch *amqp.Channel, queue string) error {
	_, err := ch.QueueDeclare(queue,
		true,  // durable
		false, // autoDelete
		false, // exclusive
		false, // noWait
		nil)
	if err != nil {
		return fmt.Errorf("declare queue %q: %w", queue, err)
	}
	return nil
}
