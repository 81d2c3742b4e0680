package confirms

import (
	"context"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/shop"
)

// sendTimeout bounds how long placing one order may take: the customer is waiting for the answer.
const sendTimeout = time.Second

// closeWait bounds how long ClientUI waits for the broker to acknowledge closing a connection it gives up on: on a
// network that went silent, that answer never comes.
const closeWait = 100 * time.Millisecond

// Dialer opens a new connection to the broker.
type Dialer func() (*amqp.Connection, error)

// ClientUI is the shop's web front end. Its POST /orders handler calls PlaceOrder and answers 202 Accepted when it
// returns nil, an error page otherwise. ClientUI owns its broker connection and its one publishing channel, and
// opens new ones when they are gone. It is safe for concurrent use: requests take turns on the channel, because a
// Channel is not safe for concurrent use.
type ClientUI struct {
	dial  Dialer
	queue SalesQueue
	mu    sync.Mutex // guards conn and ch, and serialises the publishes on ch
	conn  *amqp.Connection
	ch    *amqp.Channel
}

// NewClientUI returns a ClientUI that reaches the broker through dial and sends orders to Sales' queue. It connects
// at once, so a broker it cannot reach is an error here rather than on the first order.
func NewClientUI(dial Dialer, queue SalesQueue) (*ClientUI, error) {
	c := &ClientUI{dial: dial, queue: queue}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.channel(); err != nil {
		return nil, err
	}
	return c, nil
}

// channel returns ClientUI's publishing channel, first opening a connection and a channel when there are none or
// the old ones were closed (a cut network, a broker restart). The caller holds c.mu.
func (c *ClientUI) channel() (*amqp.Channel, error) {
	if c.ch != nil && !c.ch.IsClosed() && !c.conn.IsClosed() {
		return c.ch, nil
	}
	c.reset()
	conn, err := c.dial()
	if err != nil {
		return nil, fmt.Errorf("connect to the broker: %w", err)
	}
	ch, err := conn.Channel()
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("open channel: %w", err)
	}
	// TODO(lab): PublishWithContext returns as soon as the message is written to the socket. The broker may still
	// refuse it (Sales' queue is full) or never get it (the network dies on the way), and ClientUI would not know.
	// Ask the broker to answer for every message published on this channel.
	if err := DeclareSalesQueue(ch, c.queue); err != nil {
		_ = conn.Close()
		return nil, err
	}
	c.conn, c.ch = conn, ch
	return ch, nil
}

// reset gives up on the current connection and channel: the next order starts over on fresh ones. It does not wait
// for the broker longer than closeWait, since a connection worth giving up on may never answer. The caller holds
// c.mu.
func (c *ClientUI) reset() {
	if c.conn != nil {
		_ = c.conn.CloseDeadline(time.Now().Add(closeWait))
	}
	c.conn, c.ch = nil, nil
}

// Close closes ClientUI's channel and connection. Closing the channel is a round trip on it, so when Close returns
// the broker has dealt with every message published on it.
func (c *ClientUI) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch == nil {
		return nil
	}
	err := c.ch.Close()
	c.reset()
	if err != nil {
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
	ch, err := c.channel()
	if err != nil {
		return fmt.Errorf("send PlaceOrder %s: %w", cmd.OrderID, err)
	}
	// TODO(lab): nil here only means "written to the socket". Only the broker can say whether it has the order: wait
	// for its answer to this very message, and promise nothing unless it said yes (and had a queue to put it in). Its
	// answer may never come; the customer must not wait for ever, and the next order deserves a channel that is not
	// stuck.
	err = ch.PublishWithContext(ctx,
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
		c.reset() // the channel may be broken: the next order starts over
		return fmt.Errorf("send PlaceOrder %s: %w", cmd.OrderID, err)
	}
	return nil
}
