package saga

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Schema is the policy's saga state: one row per order, keyed by the order id that every message carries.
const Schema = `CREATE TABLE shipping_sagas (
	order_id  text PRIMARY KEY,
	placed    boolean NOT NULL DEFAULT false,
	billed    boolean NOT NULL DEFAULT false,
	shipped   boolean NOT NULL DEFAULT false,
	cancelled boolean NOT NULL DEFAULT false
)`

// saga is the state of one order's shipping saga.
type saga struct {
	OrderID                            string
	Placed, Billed, Shipped, Cancelled bool
}

// update loads an order's saga, applies a message to it and saves it, and returns the commands the message caused
// (the caller sends them once update returned). Nothing changed: nothing is saved, nothing sent.
func (p *Policy) update(ctx context.Context, orderID string, apply func(*saga) []command) ([]command, error) {
	s, err := p.load(ctx, orderID)
	if err != nil {
		return nil, err
	}
	before := s
	cmds := apply(&s)
	if s == before {
		return nil, nil
	}
	// TODO(lab): two instances that loaded the same saga at the same moment each save their own version here, and the
	// last one wins: the other's event is lost (placed, or billed), so the order never ships; or both decide to ship,
	// and both do. Save only what nobody changed since you loaded it, and when somebody did, start again from what
	// they saved; the commands to send are those of the attempt whose save won.
	if err := p.save(ctx, s); err != nil {
		return nil, err
	}
	return cmds, nil
}

// load reads an order's saga; a saga that does not exist yet comes back empty. It calls p.AfterLoad after every read.
func (p *Policy) load(ctx context.Context, orderID string) (saga, error) {
	s := saga{OrderID: orderID}
	err := p.DB.QueryRow(ctx,
		`SELECT placed, billed, shipped, cancelled FROM shipping_sagas WHERE order_id = $1`, orderID,
	).Scan(&s.Placed, &s.Billed, &s.Shipped, &s.Cancelled)
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

// save writes an order's saga, whatever is stored.
func (p *Policy) save(ctx context.Context, s saga) error {
	_, err := p.DB.Exec(ctx,
		`INSERT INTO shipping_sagas (order_id, placed, billed, shipped, cancelled) VALUES ($1, $2, $3, $4, $5)
		 ON CONFLICT (order_id) DO UPDATE
		 SET placed = EXCLUDED.placed, billed = EXCLUDED.billed, shipped = EXCLUDED.shipped, cancelled = EXCLUDED.cancelled`,
		s.OrderID, s.Placed, s.Billed, s.Shipped, s.Cancelled)
	if err != nil {
		return fmt.Errorf("save saga %s: %w", s.OrderID, err)
	}
	return nil
}
