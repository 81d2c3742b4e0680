// Mistake requeue-until-placed: an OrderBilled for an order not placed yet is put back in the queue to wait for its OrderPlaced, which then never gets a turn
// Why an attendee writes it: "the order is not there yet, try again later" sounds like what a broker is for.

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

// Policy is Shipping's policy for an order: ship it once it is both placed and paid, cancel it (releasing its stock)
// if the payment does not come within PaymentTimeout, and refund a payment that comes after that. Several instances may run side by side on one queue.
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
	delay            time.Duration // how long the broker holds it before it is due (a TTL); 0: now
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
	for d := range deliveries {
		if err := p.settle(ctx, out, d, p.handle(ctx, out, d)); err != nil {
			return err
		}
	}
	return nil
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
func (p *Policy) handle(ctx context.Context, out *amqp.Channel, d amqp.Delivery) error {
	orderID, apply, err := p.route(d)
	if err != nil {
		return err
	}
	cmds, err := p.update(ctx, orderID, apply)
	if err != nil {
		return err
	}
	if d.Type == "OrderBilled" && len(cmds) == 0 {
		if s, err := p.load(ctx, orderID); err == nil && !s.Placed {
			return errNotYetPlaced // wait for the OrderPlaced: the broker will hand this one back
		}
	}
	for _, c := range cmds {
		if err := send(ctx, out, c.queue, c.messageID, c.msg, c.delay); err != nil {
			return err
		}
	}
	return nil
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

// placed: the order exists. Ship it if it is paid already, otherwise start the clock on its payment: a
// PaymentTimeout the Timeouts queue holds for PaymentTimeout, then hands back to the policy's queue.
func (p *Policy) placed(s *saga) []command {
	if s.Placed {
		return nil // a redelivery: already applied
	}
	s.Placed = true
	if s.Billed {
		return p.shipIfReady(s)
	}
	return []command{{p.Topology.Timeouts, "timeout-" + s.OrderID, PaymentTimeout{OrderID: s.OrderID}, p.PaymentTimeout}}
}

// errNotYetPlaced: an OrderBilled came before its OrderPlaced; handle returns it, and the message is put back.
var errNotYetPlaced = errors.New("order not placed yet: try again later")

// billed: the money came, whether or not the order is known yet. Ship if the order is placed; refund it if the order
// was cancelled meanwhile (a compensation: the payment cannot be rolled back).
func (p *Policy) billed(s *saga, cents int) []command {
	if s.Billed || !s.Placed {
		return nil // a redelivery, or too early: handle puts it back
	}
	s.Billed = true
	if s.Cancelled {
		return []command{{p.Topology.Billing, "refund-" + s.OrderID, RefundOrder{OrderID: s.OrderID, Cents: cents}, 0}}
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
