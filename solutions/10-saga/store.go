//go:build solution

// Why this fix: two instances that loaded one saga at the same moment must not both save it. Each saved row carries
// a version; a save succeeds only if the version is still the one it loaded (INSERT … ON CONFLICT DO NOTHING for a
// saga that did not exist, UPDATE … WHERE version = $n otherwise), and the attempt that loses loads the newer state
// and applies its message again. So no event's effect is overwritten, and each decision (ship, cancel, refund) is
// taken once, by the save that wins: the commands sent are that attempt's, never the loser's. This is one good
// answer, not the only one: SELECT … FOR UPDATE in a transaction around load and save makes the second instance wait
// instead of retrying, at the cost of holding a row lock across the decision.

package saga

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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

// maxConflicts is how many times one message is applied again after losing a race to save its saga.
const maxConflicts = 10

// saga is the state of one order's shipping saga. Version 0 means it has never been saved.
type saga struct {
	OrderID                            string
	Placed, Billed, Shipped, Cancelled bool
	Version                            int
}

// update loads an order's saga, applies a message to it and saves it if nobody saved it in the meantime; after a
// conflict it loads the newer state and applies the message again. It returns the commands of the attempt whose save
// won (the caller sends them once update returned). Nothing changed: nothing is saved, nothing sent.
func (p *Policy) update(ctx context.Context, orderID string, apply func(*saga) []command) ([]command, error) {
	for attempt := 1; attempt <= maxConflicts; attempt++ {
		s, err := p.load(ctx, orderID)
		if err != nil {
			return nil, err
		}
		before := s
		cmds := apply(&s)
		if s == before {
			return nil, nil
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

// load reads an order's saga; a saga that does not exist yet comes back empty, with version 0. It calls p.AfterLoad
// after every read.
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
