//go:build solution

// Step 1 of 4 (any event may start the saga): the steps after it are not in yet.
//
// Why this fix: the saga's state lives in PostgreSQL, one row per order, and every message (OrderPlaced, OrderBilled,
// PaymentTimeout) is applied the same way: load the row, decide, save (store.go: only if nobody saved in between),
// and only then send what was decided. Any event may start the saga, so the order in which they arrive does not
// matter; a duplicate changes nothing and sends nothing. The payment timeout is a message too: a PaymentTimeout
// with a TTL in the Timeouts delay queue, which dead-letters it back to the policy's queue, so it waits in the broker
// and survives a restart. A payment for a cancelled order is compensated with a refund: nothing can be rolled back
// across services. This is one good answer, not the only one: a timeouts table polled by the policy, or the
// delayed-message plugin, would hold the timer too, and lab 6's outbox would store the saga's commands with its row
// so that a crash between the save and the send cannot lose them.

package saga

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/shop"
)

// prefetch is how many messages one policy instance handles at a time.
const prefetch = 1

// Policy is Shipping's policy for an order: ship it once it is both placed and paid, and cancel it (releasing its
// stock) if the payment does not come within PaymentTimeout. Several instances may run side by side on one queue.
// A Policy is safe for concurrent use; Run owns its channels.
type Policy struct {
	DB             *pgxpool.Pool
	Topology       Topology
	PaymentTimeout time.Duration
	// AfterLoad, when set, is called right after the saga's state has been read (a test uses it to hold two
	// handlers at the same point). It must be called on every read of the state, retries included.
	AfterLoad func(orderID string)
}

// command is a message the saga decided to send: the caller sends it once the saga's new state is saved.
type command struct {
	queue, messageID string
	msg              shop.Message
	delay            time.Duration // how long to wait before it is due; 0: now
}

// errUnreadable marks a message the policy cannot read: it will never be read, so it is not put back.
var errUnreadable = errors.New("unreadable message")

// Run handles the policy's messages until ctx is done. It uses two channels on conn, both owned by this goroutine:
// one consumes, the other (in confirm mode) sends. A message it fails on is put back for another try, and Run goes
// on with the next; only a sending channel that is gone ends it (the process then restarts with fresh channels).
func (p *Policy) Run(ctx context.Context, conn *amqp.Connection) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	out, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer out.Close()
	if err := out.Confirm(false); err != nil { // noWait=false
		return fmt.Errorf("confirm mode: %w", err)
	}
	if err := p.Topology.Declare(ch); err != nil {
		return err
	}
	if err := ch.Qos(prefetch, 0, false); err != nil { // prefetchCount, prefetchSize, global
		return fmt.Errorf("set prefetch: %w", err)
	}
	deliveries, err := ch.ConsumeWithContext(ctx, p.Topology.Policy,
		"",    // consumer tag: let the library choose
		false, // autoAck: we ack once the saga is saved and its commands are sent
		false, // exclusive
		false, // noLocal
		false, // noWait
		nil)
	if err != nil {
		return fmt.Errorf("consume %q: %w", p.Topology.Policy, err)
	}
	reminders := make(chan command) // reminders whose wait is over, to send from this goroutine
	for {
		select { // deliveries is closed once ctx is done
		case d, ok := <-deliveries:
			if !ok {
				return nil
			}
			if err := p.settle(ctx, out, d, p.handle(ctx, out, d, reminders)); err != nil {
				return err
			}
		case c := <-reminders:
			if err := send(ctx, out, c.queue, c.messageID, c.msg, 0); err != nil {
				return err
			}
		}
	}
}

// settle acks a delivery that was handled, and puts back one that failed (an unreadable one is dropped: it would
// fail the same way forever). It returns an error only when the channels are gone.
func (p *Policy) settle(ctx context.Context, out *amqp.Channel, d amqp.Delivery, handleErr error) error {
	switch {
	case handleErr == nil:
		if err := d.Ack(false); err != nil { // multiple=false
			return fmt.Errorf("ack %s: %w", d.MessageId, err)
		}
	case ctx.Err() != nil:
		return nil // shutting down: the broker requeues what we did not ack
	case errors.Is(handleErr, errUnreadable):
		if err := d.Reject(false); err != nil { // requeue=false (lab 9 would park it in an error queue)
			return fmt.Errorf("reject %s: %w", d.MessageId, err)
		}
	default:
		if err := d.Nack(false, true); err != nil { // multiple=false, requeue=true: try again
			return fmt.Errorf("nack %s: %w", d.MessageId, err)
		}
		if out.IsClosed() || errors.Is(handleErr, amqp.ErrClosed) {
			return handleErr
		}
	}
	return nil
}

// handle applies one message to its order's saga, then sends what the saga decided.
func (p *Policy) handle(ctx context.Context, out *amqp.Channel, d amqp.Delivery, reminders chan<- command) error {
	orderID, apply, err := p.route(d)
	if err != nil {
		return err
	}
	cmds, err := p.update(ctx, orderID, apply)
	if err != nil {
		return err
	}
	for _, c := range cmds {
		if c.delay > 0 {
			p.remindLater(ctx, c, reminders)
			continue
		}
		if err := send(ctx, out, c.queue, c.messageID, c.msg, 0); err != nil {
			return err
		}
	}
	return nil
}

// remindLater sends c once its delay is over.
// TODO(lab): this timer lives in this process's memory. If the policy is restarted (a deploy, a crash) before it goes
// off, the reminder dies with it: the order waits for its payment forever, and its stock stays reserved. Let the
// broker hold the wait (the Timeouts queue in topology.go, and send's delay), so that the reminder comes back to
// whichever instance is running when it is due.
func (p *Policy) remindLater(ctx context.Context, c command, reminders chan<- command) {
	time.AfterFunc(c.delay, func() {
		select {
		case reminders <- c:
		case <-ctx.Done():
		}
	})
}

// route decodes a message and says which saga it belongs to and how it changes it.
func (p *Policy) route(d amqp.Delivery) (orderID string, apply func(*saga) []command, err error) {
	switch d.Type {
	case "OrderPlaced":
		var e shop.OrderPlaced
		err = shop.Decode(d.Body, &e)
		orderID, apply = e.OrderID, p.placed
	case "OrderBilled":
		var e shop.OrderBilled
		err = shop.Decode(d.Body, &e)
		orderID, apply = e.OrderID, func(s *saga) []command { return p.billed(s, e.Cents) }
	case "PaymentTimeout":
		var e PaymentTimeout
		err = shop.Decode(d.Body, &e)
		orderID, apply = e.OrderID, p.timedOut
	default:
		err = fmt.Errorf("unexpected type %q", d.Type)
	}
	if err != nil {
		return "", nil, fmt.Errorf("message %s: %w: %w", d.MessageId, errUnreadable, err)
	}
	return orderID, apply, nil
}

// placed: the order exists. Ship it if it is paid already, otherwise start the clock on its payment.
func (p *Policy) placed(s *saga) []command {
	if s.Placed {
		return nil // a redelivery: already applied
	}
	s.Placed = true
	if s.Billed {
		return p.shipIfReady(s)
	}
	return []command{{p.Topology.Policy, "timeout-" + s.OrderID, PaymentTimeout{OrderID: s.OrderID}, p.PaymentTimeout}}
}

// billed: the money came, whether or not the order is known yet. Ship if the order is placed.
func (p *Policy) billed(s *saga, _ int) []command {
	if s.Billed {
		return nil // a redelivery: already applied
	}
	s.Billed = true
	if s.Cancelled {
		return nil // step 4: the money came after the order was cancelled
	}
	return p.shipIfReady(s)
}

// timedOut: the payment timeout went off. Cancel the order if it is still unpaid, and release its stock.
func (p *Policy) timedOut(s *saga) []command {
	if !s.Placed || s.Billed || s.Cancelled {
		return nil // paid in time, or already cancelled
	}
	s.Cancelled = true
	return []command{{p.Topology.Warehouse, "release-" + s.OrderID, ReleaseStock{OrderID: s.OrderID}, 0}}
}

// shipIfReady decides to ship once the order is both placed and billed, and notes that it did.
func (p *Policy) shipIfReady(s *saga) []command {
	if !s.Placed || !s.Billed || s.Shipped || s.Cancelled {
		return nil
	}
	s.Shipped = true
	return []command{{p.Topology.Shipping, "ship-" + s.OrderID, shop.ShipOrder{OrderID: s.OrderID}, 0}}
}
