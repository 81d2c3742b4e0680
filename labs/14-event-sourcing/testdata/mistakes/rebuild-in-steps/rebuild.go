// Mistake rebuild-in-steps: the rebuild empties the read model and re-applies the events in transactions of their own, so a rebuild that dies halfway leaves the old projection a read model with orders missing
// "One event, one transaction", as Run does it: a rebuild of a big store in one transaction looks too heavy.

package sourcing

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Rebuild throws the read model away and builds it again from the events: after a bug in apply is fixed, or when a
// new column is added. Call it before Run, with no other projection running.
// It replays only what the projection had already handled (up to the checkpoints), and replays state, not side
// effects: no e-mail is asked for. Anything newer is left to Run, which handles it as new, e-mail included.
func (p *Projection) Rebuild(ctx context.Context) error {
	replayed := 0
	if _, err := p.DB.Exec(ctx, `TRUNCATE order_summaries`); err != nil {
		return fmt.Errorf("reset read model: %w", err)
	}
	var events []Event
	err := pgx.BeginFunc(ctx, p.DB, func(tx pgx.Tx) error {
		var err error
		events, err = handled(ctx, tx)
		return err
	})
	if err != nil {
		return err
	}
	for _, ev := range events {
		if err := pgx.BeginFunc(ctx, p.DB, func(tx pgx.Tx) error { return apply(ctx, tx, ev) }); err != nil {
			return err
		}
		replayed++
	}
	p.logf("read model rebuilt from %d events, without side effects", replayed)
	return nil
}

// handled returns the events the projection had already handled (at or before each stream's checkpoint), in order.
func handled(ctx context.Context, tx pgx.Tx) ([]Event, error) {
	rows, err := tx.Query(ctx, `
		SELECT e.position, e.stream_id, e.version, e.type, e.data, e.recorded_at
		FROM events e JOIN projection_checkpoints c ON c.stream_id = e.stream_id
		WHERE e.version <= c.version
		ORDER BY e.position`)
	if err != nil {
		return nil, fmt.Errorf("read handled events: %w", err)
	}
	events, err := pgx.CollectRows(rows, scanEvent)
	if err != nil {
		return nil, fmt.Errorf("read handled events: %w", err)
	}
	return events, nil
}
