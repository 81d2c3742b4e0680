package room

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultSchema holds the dashboard's table in the room's database.
const DefaultSchema = "msglabs_room"

// Store keeps every event the dashboard accepted, keyed by room and event id. The key is what makes the consumer
// idempotent: storing an event a second time changes nothing and says so. A Store is safe for concurrent use.
type Store struct {
	pool   *pgxpool.Pool
	schema string
}

// OpenStore prepares the table (creating the schema when needed) and returns the store.
func OpenStore(ctx context.Context, pool *pgxpool.Pool, schema string) (*Store, error) {
	s := &Store{pool: pool, schema: pgx.Identifier{schema}.Sanitize()}
	ddl := fmt.Sprintf(`
CREATE SCHEMA IF NOT EXISTS %[1]s;
CREATE TABLE IF NOT EXISTS %[1]s.events (
	room        text        NOT NULL,
	id          text        NOT NULL,
	seq         bigserial   NOT NULL,
	received_at timestamptz NOT NULL,
	attendee    text        NOT NULL,
	lab         text        NOT NULL,
	step        int         NOT NULL,
	result      text        NOT NULL,
	marker      text        NOT NULL,
	hints       int         NOT NULL,
	seconds     bigint      NOT NULL,
	PRIMARY KEY (room, id)
)`, s.schema)
	if _, err := pool.Exec(ctx, ddl); err != nil {
		return nil, fmt.Errorf("create the room's table in schema %s: %w", schema, err)
	}
	return s, nil
}

// Add stores an event received at a time. It returns false, and changes nothing, when the event's id is already
// stored (a redelivery, or the same event sent twice).
func (s *Store) Add(ctx context.Context, room string, e Event, at time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, fmt.Sprintf(`INSERT INTO %s.events
		(room, id, received_at, attendee, lab, step, result, marker, hints, seconds)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (room, id) DO NOTHING`, s.schema),
		room, e.ID, at, e.Attendee, e.Lab, e.Step, e.Result, e.Marker, e.Hints, e.Seconds)
	if err != nil {
		return false, fmt.Errorf("store event %s: %w", e.ID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Replay calls apply for every stored event of the room, in the order they were stored. Rows are streamed: memory
// does not grow with the number of events.
func (s *Store) Replay(ctx context.Context, room string, apply func(Event, time.Time)) error {
	rows, err := s.pool.Query(ctx, fmt.Sprintf(`SELECT id, received_at, attendee, lab, step, result, marker, hints, seconds
		FROM %s.events WHERE room = $1 ORDER BY seq`, s.schema), room)
	if err != nil {
		return fmt.Errorf("read the room's events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e Event
		var at time.Time
		if err := rows.Scan(&e.ID, &at, &e.Attendee, &e.Lab, &e.Step, &e.Result, &e.Marker, &e.Hints, &e.Seconds); err != nil {
			return fmt.Errorf("read the room's events: %w", err)
		}
		apply(e, at)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read the room's events: %w", err)
	}
	return nil
}
