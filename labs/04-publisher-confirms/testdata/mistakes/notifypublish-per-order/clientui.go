// Mistake notifypublish-per-order: PlaceOrder registers a new NotifyPublish listener for every order and reads only
// that one, so the old listeners fill up and the third order on a connection blocks the library for good
// The listener is created right before the publish it is for, so its first confirmation is surely its own: the
// attendee does not know that every listener gets every confirmation, for as long as the channel lives.

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
	dial    Dialer
	queue   SalesQueue
	mu      sync.Mutex // guards conn, ch and returns, and serialises the publishes on ch
	conn    *amqp.Connection
	ch      *amqp.Channel
	returns <-chan amqp.Return // the messages published on ch that the broker had no queue for
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
	if err := ch.Confirm(false); err != nil { // noWait=false: the broker now acks or nacks every message on ch
		_ = conn.Close()
		return nil, fmt.Errorf("confirm mode: %w", err)
	}
	// Buffered, and drained after every confirm: the library gives up on a listener that does not take a return.
	returns := ch.NotifyReturn(make(chan amqp.Return, 1))
	if err := DeclareSalesQueue(ch, c.queue); err != nil {
		_ = conn.Close()
		return nil, err
	}
	c.conn, c.ch, c.returns = conn, ch, returns
	return ch, nil
}

// reset gives up on the current connection and channel: the next order starts over on fresh ones. It does not wait
// for the broker longer than closeWait, since a connection worth giving up on may never answer. The caller holds
// c.mu.
func (c *ClientUI) reset() {
	if c.conn != nil {
		_ = c.conn.CloseDeadline(time.Now().Add(closeWait))
	}
	c.conn, c.ch, c.returns = nil, nil, nil
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
	ch, err := c.channel()
	if err != nil {
		return fmt.Errorf("send PlaceOrder %s: %w", cmd.OrderID, err)
	}
	confirms := ch.NotifyPublish(make(chan amqp.Confirmation, 1)) // the broker's answer to the publish below
	err = ch.PublishWithContext(ctx,
		"",           // exchange: the default exchange routes by queue name
		c.queue.Name, // routing key: Sales' queue
		true,         // mandatory: return it to us if no queue is bound for it
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
	return c.confirmed(ctx, confirms, cmd.OrderID)
}

// errNotConfirmed means the broker did not ack a message: it refused it (a negative confirm), or the channel closed
// before it answered. Either way it may not have the message.
var errNotConfirmed = errors.New("the broker did not confirm it")

// confirmed waits for the broker's answer to one publish, at most until ctx is done. Only an ack is a yes. No answer
// in time means the broker may or may not have the order, and the channel it went out on may be stuck (a network
// that went silent): ClientUI gives up on it, so the next order starts over on a fresh connection. The caller holds
// c.mu.
func (c *ClientUI) confirmed(ctx context.Context, confirms <-chan amqp.Confirmation, orderID string) error {
	var conf amqp.Confirmation
	select {
	case conf = <-confirms:
	case <-ctx.Done():
		c.reset()
		return fmt.Errorf("no confirm for PlaceOrder %s in time: %w", orderID, ctx.Err())
	}
	if !conf.Ack {
		return fmt.Errorf("send PlaceOrder %s: %w (refused, or the connection was lost first)", orderID, errNotConfirmed)
	}
	return c.checkReturned("place-"+orderID, orderID)
}

// errUnroutable means the broker had no queue for a message: it dropped it, and acked it all the same.
var errUnroutable = errors.New("the broker had no queue for it")

// checkReturned reports errUnroutable if the broker returned the message with this id. The broker sends a return
// before the ack of the same message, so once the ack is in, the return is waiting in c.returns or never coming. It
// takes every return waiting, so none is left to be mistaken for a later order's. The caller holds c.mu.
func (c *ClientUI) checkReturned(id, orderID string) error {
	var err error
	for {
		select {
		case r, open := <-c.returns:
			if !open { // the channel closed: no more returns will come
				return err
			}
			if r.MessageId == id {
				err = fmt.Errorf("send PlaceOrder %s: %w (%d %s)", orderID, errUnroutable, r.ReplyCode, r.ReplyText)
			}
		default:
			return err
		}
	}
}
