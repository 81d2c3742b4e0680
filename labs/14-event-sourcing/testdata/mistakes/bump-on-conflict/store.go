// Mistake bump-on-conflict: on a taken slot the store tries the next one itself, so the writer never reads the order again before its change lands
// "A taken slot just means someone was quicker": moving up a version inside Append looks kinder than bothering
// the caller with a conflict.

package sourcing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Event is one stored event: a fact about an order, never changed and never deleted.
type Event struct {
	Position   int64 // order across all streams
	StreamID   string
	Version    int // 1, 2, 3… within the stream
	Type       string
	Data       json.RawMessage
	RecordedAt time.Time
}

// ErrConflict means the stream has moved on since the caller read it: someone else appended first.
var ErrConflict = errors.New("the stream changed since it was read")

// Store is the event store: an append-only table of events in PostgreSQL, one stream per order. A Store is safe for
// concurrent use.
type Store struct {
	DB *pgxpool.Pool
}

// Load returns every event of a stream, in version order (none for a stream that does not exist).
func (s *Store) Load(ctx context.Context, streamID string) ([]Event, error) {
	rows, err := s.DB.Query(ctx, `
		SELECT position, stream_id, version, type, data, recorded_at FROM events
		WHERE stream_id = $1 ORDER BY version`, streamID)
	if err != nil {
		return nil, fmt.Errorf("load stream %s: %w", streamID, err)
	}
	events, err := pgx.CollectRows(rows, scanEvent)
	if err != nil {
		return nil, fmt.Errorf("load stream %s: %w", streamID, err)
	}
	return events, nil
}

// Append adds changes at the end of a stream, as versions expectedVersion+1, +2, …, in one transaction.
// expectedVersion is the version of the last event the caller read (0 for a new stream).
func (s *Store) Append(ctx context.Context, streamID string, expectedVersion int, changes ...Change) error {
	return pgx.BeginFunc(ctx, s.DB, func(tx pgx.Tx) error {
		for i, c := range changes {
			data, err := json.Marshal(c)
			if err != nil {
				return fmt.Errorf("encode %s: %w", c.EventType(), err)
			}
			version := expectedVersion + 1 + i
			// The slot (stream_id, version) is unique. If it is taken, another writer appended after the caller
			// read the stream: that is a conflict, not a duplicate. Inserting nothing and rolling back tells the
			// caller to read again and decide again.
			tag, err := tx.Exec(ctx, `
				INSERT INTO events (stream_id, version, type, data) VALUES ($1, $2, $3, $4)
				ON CONFLICT (stream_id, version) DO NOTHING`,
				streamID, version, c.EventType(), data)
			if err != nil {
				return fmt.Errorf("append %s v%d to %s: %w", c.EventType(), version, streamID, err)
			}
			for tries := 0; tag.RowsAffected() == 0 && tries < 10; tries++ {
				version++ // someone was quicker: take the next slot
				tag, err = tx.Exec(ctx, `
					INSERT INTO events (stream_id, version, type, data) VALUES ($1, $2, $3, $4)
					ON CONFLICT (stream_id, version) DO NOTHING`,
					streamID, version, c.EventType(), data)
				if err != nil {
					return fmt.Errorf("append %s v%d to %s: %w", c.EventType(), version, streamID, err)
				}
			}
			if tag.RowsAffected() == 0 {
				return fmt.Errorf("append %s v%d to %s: %w", c.EventType(), version, streamID, ErrConflict)
			}
		}
		return nil
	})
}

func scanEvent(row pgx.CollectableRow) (Event, error) {
	var ev Event
	err := row.Scan(&ev.Position, &ev.StreamID, &ev.Version, &ev.Type, &ev.Data, &ev.RecordedAt)
	return ev, err
}
