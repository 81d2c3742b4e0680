//go:build solution

// Why this fix: a publish that returns nil has only reached the socket; the broker may refuse the message (Sales'
// queue is full) or never see it (the connection dies on the way). ClientUI's channel is now in confirm mode, and
// PlaceOrder waits for the broker's answer to its message before promising anything: an ack means the broker has
// the order (for a persistent message on a durable queue: on disk), a nack or a lost connection means it does not,
// and the customer gets an error page instead of a false 202. This is one good answer, not the only one: ClientUI
// could also retry on a fresh connection before giving up (a retry may duplicate an order whose ack was lost, which
// lab 5 handles), or keep many confirms in flight for throughput instead of waiting for each.

package confirms

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/shop"
)

// sendTimeout bounds how long placing one order may take, including the wait for the broker's confirm.
const sendTimeout = 2 * time.Second

// errNotConfirmed means the broker did not ack a message: it refused it (a negative confirm), or the channel closed
// before it answered. Either way it may not have the message.
var errNotConfirmed = errors.New("the broker did not confirm it")

// ClientUI is the shop's web front end. Its POST /orders handler calls PlaceOrder and answers 202 Accepted when it
// returns nil, an error page otherwise. A ClientUI is safe for concurrent use: requests take turns on its one
// publishing channel, because a Channel is not safe for concurrent use.
type ClientUI struct {
	queue SalesQueue
	mu    sync.Mutex // guards ch
	ch    *amqp.Channel
}

// NewClientUI opens ClientUI's publishing channel on conn (owned by the caller), puts it in confirm mode and declares
// Sales' queue.
func NewClientUI(conn *amqp.Connection, queue SalesQueue) (*ClientUI, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("open channel: %w", err)
	}
	if err := ch.Confirm(false); err != nil { // noWait=false
		return nil, fmt.Errorf("confirm mode: %w", err)
	}
	if err := DeclareSalesQueue(ch, queue); err != nil {
		return nil, err
	}
	return &ClientUI{queue: queue, ch: ch}, nil
}

// Close closes ClientUI's publishing channel. Closing is a round trip on that channel, so when Close returns the
// broker has dealt with every message published on it.
func (c *ClientUI) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.ch.Close(); err != nil {
		return fmt.Errorf("close channel: %w", err)
	}
	return nil
}

// PlaceOrder sends Sales a PlaceOrder command and waits for the broker's confirm. A nil error is a promise to the
// customer, "we have your order", kept by the broker's ack.
func (c *ClientUI) PlaceOrder(ctx context.Context, cmd shop.PlaceOrder) error {
	body, err := shop.Encode(cmd)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	confirm, err := c.ch.PublishWithDeferredConfirmWithContext(ctx,
		"",           // exchange: the default exchange routes by queue name
		c.queue.Name, // routing key: Sales' queue
		false,        // mandatory
		false,        // immediate
		amqp.Publishing{
			MessageId:    "place-" + cmd.OrderID,
			Type:         cmd.MessageType(),
			ContentType:  shop.ContentType,
			DeliveryMode: amqp.Persistent, // written to disk, survives a broker restart
			Body:         body,
		})
	if err != nil {
		return fmt.Errorf("send PlaceOrder %s: %w", cmd.OrderID, err)
	}
	// A nack, or a channel that closed before the broker answered (the library resolves those as not acked),
	// both mean the broker may not have the order.
	acked, err := confirm.WaitContext(ctx)
	if err != nil {
		return fmt.Errorf("no confirm for PlaceOrder %s: %w", cmd.OrderID, err)
	}
	if !acked {
		return fmt.Errorf("send PlaceOrder %s: %w (refused, or the connection was lost first)", cmd.OrderID, errNotConfirmed)
	}
	return nil
}
