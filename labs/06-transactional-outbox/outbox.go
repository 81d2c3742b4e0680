package outbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	amqp "github.com/rabbitmq/amqp091-go"
)

// You do not need to edit this file: it is the outbox's table and the loop that runs the relay. What the relay does
// with one batch is in relay.go.

// Schema is Sales' database: the orders it accepted, and the outbox of events waiting to be published. An outbox row
// is a whole message: its id (stable, so a copy published again is recognised downstream), type, routing key, headers
// and body. Rows are numbered in the order they were inserted, which is not the order their transactions commit in.
const Schema = `
CREATE TABLE orders (
	id       text PRIMARY KEY,
	customer text NOT NULL,
	cents    int  NOT NULL
);
CREATE TABLE outbox (
	id           bigserial   PRIMARY KEY,
	message_id   text        NOT NULL,
	message_type text        NOT NULL,
	routing_key  text        NOT NULL,
	headers      jsonb       NOT NULL DEFAULT '{}',
	body         bytea       NOT NULL,
	created_at   timestamptz NOT NULL DEFAULT now()
)`

const (
	// relayBatch is how many outbox rows the relay takes at a time: also how many confirms it has outstanding.
	relayBatch = 256
	// relayIdle is how long the relay pauses when the outbox has nothing for it.
	relayIdle = 20 * time.Millisecond
	// relayRetry is how long the relay pauses after a batch failed (the broker refused a message, the database
	// refused a statement) before it tries again.
	relayRetry = 50 * time.Millisecond
	// confirmTimeout bounds the wait for the broker's confirms of one batch. A broker that has not confirmed by then
	// is not answering: the relay cannot tell what it received, so it gives up the batch and the link.
	confirmTimeout = time.Second
)

// outboxRow is one message waiting in the outbox.
type outboxRow struct {
	ID          int64
	MessageID   string
	MessageType string
	RoutingKey  string
	Headers     map[string]string
	Body        []byte
}

// errRefused wraps a negative confirm: the broker did not take a message (a full queue that rejects publishes, say).
// The message is still in the outbox, and the next batch tries it again.
var errRefused = errors.New("the broker refused a message (negative confirm)")

// Run is Sales' outbox relay: until ctx is done it takes the outbox to the broker, one batch at a time (relay.go),
// with a confirmed channel of its own on s.Broker. Several relays (several Sales instances) may run at once. A batch
// that failed is tried again after relayRetry when the failure is one the next try may not have (a refusal, a
// database error); any other failure (a confirm that never came, a closed channel) ends Run with the error, because
// the broker link cannot be trusted any more: Sales' process must then be restarted. Run returns nil when ctx is done.
func (s *Sales) Run(ctx context.Context) error {
	ch, err := s.relayChannel()
	if err != nil {
		return err
	}
	defer ch.Close()
	r := &relay{s: s, ch: ch}
	for {
		n, err := r.batch(ctx)
		if ctx.Err() != nil {
			return nil
		}
		pause := relayIdle
		switch {
		case err != nil && !retryable(err):
			return fmt.Errorf("relay: %w", err)
		case err != nil:
			s.logf("relay: %v; the batch stays in the outbox, trying again in %v", err, relayRetry)
			pause = relayRetry
		case n > 0:
			continue // there may be more waiting
		}
		if !sleep(ctx, pause) {
			return nil
		}
	}
}

// relayChannel opens the relay's channel in confirm mode and declares Sales' exchange on it.
func (s *Sales) relayChannel() (*amqp.Channel, error) {
	ch, err := s.Broker.Channel()
	if err != nil {
		return nil, fmt.Errorf("open relay channel: %w", err)
	}
	if err := ch.Confirm(false); err != nil { // noWait=false
		ch.Close()
		return nil, fmt.Errorf("confirm mode: %w", err)
	}
	if err := DeclareExchange(ch, s.Exchange); err != nil {
		ch.Close()
		return nil, err
	}
	return ch, nil
}

// retryable reports whether a failed batch is worth trying again on the same channel: the broker refused a message,
// or the database refused a statement.
func retryable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.Is(err, errRefused) || errors.As(err, &pgErr)
}

// sleep waits for d and reports true, or reports false at once when ctx is done first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// headerTable turns an outbox row's headers into AMQP headers.
func headerTable(headers map[string]string) amqp.Table {
	t := amqp.Table{}
	for k, v := range headers {
		t[k] = v
	}
	return t
}
