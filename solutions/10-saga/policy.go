//go:build solution

// Why this fix: the saga's state lives in PostgreSQL, one row per order, and every message is applied the same way:
// load the row, apply the message to it, save it only if its version has not moved since the load, and on a conflict
// load again and re-apply. So the saga starts from whichever event comes first, two instances handling the same order
// at once cannot overwrite each other, and each decision (ship, cancel, refund) is taken once, by the save that wins.
// The payment timeout is a message too: a PaymentTimeout with a TTL in a delay queue that dead-letters back to the
// policy's queue, so it waits in the broker and survives a restart. A late payment for a cancelled order is
// compensated with a refund. This is one good answer, not the only one: SELECT … FOR UPDATE in a transaction
// serialises the handlers instead of retrying them, the delayed-message plugin or a timeouts table polled by the
// policy would do for the timer, and lab 6's outbox would store the saga's commands with its row so that a crash
// between the save and the send cannot lose them.

package saga

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/shop"
)

// Schema is the policy's saga state: one row per order, keyed by the order id that every message carries. version
// counts the saves: a save succeeds only if the version is still the one it loaded (optimistic concurrency).
const Schema = `CREATE TABLE shipping_sagas (
	order_id  text PRIMARY KEY,
	placed    boolean NOT NULL DEFAULT false,
	billed    boolean NOT NULL DEFAULT false,
	shipped   boolean NOT NULL DEFAULT false,
	cancelled boolean NOT NULL DEFAULT false,
	version   int     NOT NULL
)`

// maxConflicts is how many times one message is re-applied after losing a race to save its saga.
const maxConflicts = 10

// Policy is Shipping's policy for an order: ship it once it is both placed and paid, and cancel it (releasing its
// stock) if the payment does not come within PaymentTimeout; refund a payment that comes after that. Several
// instances may run side by side on one queue. A Policy is safe for concurrent use; Run owns its channels.
type Policy struct {
	DB             *pgxpool.Pool
	Topology       Topology
	PaymentTimeout time.Duration
	// AfterLoad, when set, is called right after the saga's state has been read (a test uses it to hold two
	// handlers at the same point). It must be called on every read of the state, retries included.
	AfterLoad func(orderID string)
}

// saga is the state of one order's shipping saga. Version 0 means it has never been saved.
type saga struct {
	OrderID                            string
	Placed, Billed, Shipped, Cancelled bool
	Version                            int
}

// command is a message the saga decided to send, sent once the new state is saved.
type command struct {
	queue, messageID string
	msg              shop.Message
	delay            time.Duration // a TTL, for a timeout; 0 for anything else
}

// Run handles the policy's messages until ctx is done. It uses two channels on conn, both owned by this goroutine:
// one consumes, the other (in confirm mode) sends.
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
	if err := ch.Qos(1, 0, false); err != nil { // prefetchCount, prefetchSize, global
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
		if err := p.handle(ctx, out, d); err != nil {
			if ctx.Err() != nil {
				return nil // shutting down: the broker requeues what we did not ack
			}
			_ = d.Nack(false, true) // multiple=false, requeue=true: try again
			return err
		}
		if err := d.Ack(false); err != nil { // multiple=false
			return fmt.Errorf("ack %s: %w", d.MessageId, err)
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
		return e.OrderID, p.placed, err
	case "OrderBilled":
		var e shop.OrderBilled
		err = shop.Decode(d.Body, &e)
		return e.OrderID, func(s *saga) []command { return p.billed(s, e.Cents) }, err
	case "PaymentTimeout":
		var e PaymentTimeout
		err = shop.Decode(d.Body, &e)
		return e.OrderID, p.timedOut, err
	}
	return "", nil, fmt.Errorf("message %s: unexpected type %q", d.MessageId, d.Type)
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
	return []command{{p.Topology.Timeouts, "timeout-" + s.OrderID, PaymentTimeout{OrderID: s.OrderID}, p.PaymentTimeout}}
}

// billed: the money came. Ship if the order is placed; refund it if the order was cancelled meanwhile.
func (p *Policy) billed(s *saga, cents int) []command {
	if s.Billed {
		return nil // a redelivery: already applied
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

// update loads an order's saga, applies a message to it and saves it, if nobody saved it in the meantime; after a
// conflict it loads the newer state and applies the message again. It returns the commands of the winning attempt.
func (p *Policy) update(ctx context.Context, orderID string, apply func(*saga) []command) ([]command, error) {
	for attempt := 1; attempt <= maxConflicts; attempt++ {
		s, err := p.load(ctx, orderID)
		if err != nil {
			return nil, err
		}
		before := s
		cmds := apply(&s)
		if s == before {
			return nil, nil // nothing changed: nothing to save or send
		}
		saved, err := p.save(ctx, s)
		if err != nil {
			return nil, err
		}
		if saved {
			return cmds, nil
		}
	}
	return nil, fmt.Errorf("saga %s: still conflicting after %d attempts", orderID, maxConflicts)
}

// load reads an order's saga; a saga that does not exist yet comes back empty, with version 0.
func (p *Policy) load(ctx context.Context, orderID string) (saga, error) {
	s := saga{OrderID: orderID}
	err := p.DB.QueryRow(ctx,
		`SELECT placed, billed, shipped, cancelled, version FROM shipping_sagas WHERE order_id = $1`, orderID,
	).Scan(&s.Placed, &s.Billed, &s.Shipped, &s.Cancelled, &s.Version)
	if p.AfterLoad != nil {
		p.AfterLoad(orderID)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return saga{OrderID: orderID}, nil
	}
	if err != nil {
		return s, fmt.Errorf("load saga %s: %w", orderID, err)
	}
	return s, nil
}

// save writes s if the stored saga is still at s.Version (absent, for version 0) and reports whether it did.
func (p *Policy) save(ctx context.Context, s saga) (bool, error) {
	var (
		tag pgconn.CommandTag
		err error
	)
	if s.Version == 0 {
		tag, err = p.DB.Exec(ctx,
			`INSERT INTO shipping_sagas (order_id, placed, billed, shipped, cancelled, version)
			 VALUES ($1, $2, $3, $4, $5, 1)
			 ON CONFLICT (order_id) DO NOTHING`,
			s.OrderID, s.Placed, s.Billed, s.Shipped, s.Cancelled)
	} else {
		tag, err = p.DB.Exec(ctx,
			`UPDATE shipping_sagas SET placed = $2, billed = $3, shipped = $4, cancelled = $5, version = version + 1
			 WHERE order_id = $1 AND version = $6`,
			s.OrderID, s.Placed, s.Billed, s.Shipped, s.Cancelled, s.Version)
	}
	if err != nil {
		return false, fmt.Errorf("save saga %s: %w", s.OrderID, err)
	}
	return tag.RowsAffected() == 1, nil
}
