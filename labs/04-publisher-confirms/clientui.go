package confirms

import (
	"context"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/shop"
)

// sendTimeout bounds how long placing one order may take.
const sendTimeout = 2 * time.Second

// ClientUI is the shop's web front end. Its POST /orders handler calls PlaceOrder and answers 202 Accepted when it
// returns nil, an error page otherwise. A ClientUI is safe for concurrent use: requests take turns on its one
// publishing channel, because a Channel is not safe for concurrent use.
type ClientUI struct {
	queue SalesQueue
	mu    sync.Mutex // guards ch
	ch    *amqp.Channel
}

// NewClientUI opens ClientUI's publishing channel on conn (owned by the caller) and declares Sales' queue.
func NewClientUI(conn *amqp.Connection, queue SalesQueue) (*ClientUI, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("open channel: %w", err)
	}
	// TODO(lab): PublishWithContext returns as soon as the message is written to the socket. The broker may still
	// refuse it (Sales' queue is full) or never get it (the connection dies on the way), and ClientUI would not
	// know. Put the channel in confirm mode (ch.Confirm) so the broker acks or nacks every message it is given.
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

// PlaceOrder sends Sales a PlaceOrder command. A nil error is a promise to the customer: "we have your order".
func (c *ClientUI) PlaceOrder(ctx context.Context, cmd shop.PlaceOrder) error {
	body, err := shop.Encode(cmd)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	c.mu.Lock()
	defer c.mu.Unlock()
	// TODO(lab): nil here only means "written to the socket". Publish with PublishWithDeferredConfirmWithContext
	// and wait for the broker's answer (DeferredConfirmation.WaitContext): return nil only when it acked; when it
	// nacked, or the wait ended without an answer, return an error so the customer is not told a lie.
	err = c.ch.PublishWithContext(ctx,
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
	return nil
}
