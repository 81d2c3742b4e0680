// Mistake check-then-insert: the store compares the stream's version with the one the writer read before it inserts,
// and keeps ON CONFLICT DO NOTHING, so two writers that check at the same moment both pass and the second change
// silently lands nowhere
// "Check the expected version first": the check and the insert are two steps, and the race runs between them.

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
		var current int
		err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM events WHERE stream_id = $1`, streamID).Scan(&current)
		if err != nil {
			return fmt.Errorf("read version of %s: %w", streamID, err)
		}
		if current != expectedVersion { // someone appended since the caller read the stream
			return fmt.Errorf("append to %s at v%d (it is at v%d): %w", streamID, expectedVersion, current, ErrConflict)
		}
		for i, c := range changes {
			data, err := json.Marshal(c)
			if err != nil {
				return fmt.Errorf("encode %s: %w", c.EventType(), err)
			}
			version := expectedVersion + 1 + i
			_, err = tx.Exec(ctx, `
				INSERT INTO events (stream_id, version, type, data) VALUES ($1, $2, $3, $4)
				ON CONFLICT (stream_id, version) DO NOTHING`,
				streamID, version, c.EventType(), data)
			if err != nil {
				return fmt.Errorf("append %s v%d to %s: %w", c.EventType(), version, streamID, err)
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
