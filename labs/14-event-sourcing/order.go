package sourcing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// You do not need to edit this file: it is the order's domain (its events, its state) and the command that adds an
// item or ships the order, written by the Sales team. They already do the right thing when the store reports
// ErrConflict: read again, decide again.

// Change is a domain event before it is stored: what happened to an order.
type Change interface {
	EventType() string
}

// The events of an order's life.
type (
	// OrderPlaced starts an order's stream.
	OrderPlaced struct {
		Customer string `json:"customer"`
		Cents    int    `json:"amount_cents"`
	}
	// ItemAdded adds something to an order that has not shipped yet.
	ItemAdded struct {
		SKU   string `json:"sku"`
		Cents int    `json:"amount_cents"`
	}
	// OrderShipped says the order left the warehouse; the customer gets an e-mail.
	OrderShipped struct{}
)

// EventType names OrderPlaced in the store.
func (OrderPlaced) EventType() string { return "OrderPlaced" }

// EventType names ItemAdded in the store.
func (ItemAdded) EventType() string { return "ItemAdded" }

// EventType names OrderShipped in the store.
func (OrderShipped) EventType() string { return "OrderShipped" }

// decode turns a stored event back into its Change.
func decode(ev Event) (Change, error) {
	var c Change
	switch ev.Type {
	case "OrderPlaced":
		c = &OrderPlaced{}
	case "ItemAdded":
		c = &ItemAdded{}
	case "OrderShipped":
		c = &OrderShipped{}
	default:
		return nil, fmt.Errorf("event %s v%d: unknown type %q", ev.StreamID, ev.Version, ev.Type)
	}
	if err := json.Unmarshal(ev.Data, c); err != nil {
		return nil, fmt.Errorf("event %s v%d: decode %s: %w", ev.StreamID, ev.Version, ev.Type, err)
	}
	return c, nil
}

// Order is the state of an order, folded from its events.
type Order struct {
	ID       string
	Customer string
	Items    []string
	Cents    int
	Status   string // "placed" or "shipped"; "" before OrderPlaced
	Version  int    // the version of the last event folded in
}

// Replay folds a stream's events, in version order, into the order's state.
func Replay(events []Event) (Order, error) {
	var o Order
	for _, ev := range events {
		c, err := decode(ev)
		if err != nil {
			return Order{}, err
		}
		o.ID, o.Version = ev.StreamID, ev.Version
		switch c := c.(type) {
		case *OrderPlaced:
			o.Customer, o.Cents, o.Status = c.Customer, c.Cents, "placed"
		case *ItemAdded:
			o.Items = append(o.Items, c.SKU)
			o.Cents += c.Cents
		case *OrderShipped:
			o.Status = "shipped"
		}
	}
	return o, nil
}

// StateAt returns the order as it was right after its event number version: the audit trail ("what did the order
// look like when the customer called?"). Events are never changed or deleted, so any past state can be rebuilt.
func StateAt(ctx context.Context, store *Store, orderID string, version int) (Order, error) {
	events, err := store.Load(ctx, orderID)
	if err != nil {
		return Order{}, err
	}
	if version < 1 || version > len(events) {
		return Order{}, fmt.Errorf("order %s has no event %d (it has %d)", orderID, version, len(events))
	}
	return Replay(events[:version])
}

// maxAttempts bounds how often a command re-reads and re-decides after a conflict.
const maxAttempts = 5

// Orders handles commands on orders: Sales and customer service add items, the warehouse ships. An Orders is safe
// for concurrent use.
type Orders struct {
	Store *Store
	// AfterLoad, when set, is called after the order was read and before the change is appended. Tests use it to
	// hold two writers at the same point.
	AfterLoad func(orderID string)
	Log       func(format string, args ...any) // optional: where to tell what happened
}

// Errors a command returns when the order does not allow it.
var (
	ErrShipped = errors.New("the order has shipped")
	ErrNoOrder = errors.New("no such order")
)

// AddItem adds an item to an order that has not shipped yet.
func (o *Orders) AddItem(ctx context.Context, orderID string, item ItemAdded) error {
	err := o.change(ctx, orderID, func(order Order) (Change, error) {
		if order.Status == "shipped" {
			return nil, ErrShipped
		}
		return item, nil
	})
	if err != nil {
		return fmt.Errorf("add %s to %s: %w", item.SKU, orderID, err)
	}
	return nil
}

// Ship records that an order left the warehouse, once.
func (o *Orders) Ship(ctx context.Context, orderID string) error {
	err := o.change(ctx, orderID, func(order Order) (Change, error) {
		if order.Status == "shipped" {
			return nil, ErrShipped
		}
		return OrderShipped{}, nil
	})
	if err != nil {
		return fmt.Errorf("ship %s: %w", orderID, err)
	}
	return nil
}

// change reads the order, lets decide choose the change from the state it read, and appends it at the next version.
// If someone else appended in the meantime (ErrConflict), it reads the order again and decides again.
func (o *Orders) change(ctx context.Context, orderID string, decide func(Order) (Change, error)) error {
	for attempt := 1; ; attempt++ {
		events, err := o.Store.Load(ctx, orderID)
		if err != nil {
			return err
		}
		order, err := Replay(events)
		if err != nil {
			return err
		}
		if order.Status == "" {
			return ErrNoOrder
		}
		c, err := decide(order)
		if err != nil {
			return err
		}
		if o.AfterLoad != nil {
			o.AfterLoad(orderID)
		}
		err = o.Store.Append(ctx, orderID, order.Version, c)
		if errors.Is(err, ErrConflict) && attempt < maxAttempts {
			o.logf("%s changed since version %d was read: reading it again", orderID, order.Version)
			continue
		}
		if err != nil {
			return err
		}
		o.logf("appended %s to %s after version %d", describe(c), orderID, order.Version)
		return nil
	}
}

// describe names a change for the timeline: "ItemAdded gift-wrap", "OrderShipped".
func describe(c Change) string {
	if item, ok := c.(ItemAdded); ok {
		return c.EventType() + " " + item.SKU
	}
	return c.EventType()
}

func (o *Orders) logf(format string, args ...any) {
	if o.Log != nil {
		o.Log(format, args...)
	}
}
