package leftover

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/infra"
)

// Kit is the broker and the database the labs run against, where leftovers are found and removed.
type Kit struct {
	AMQPURL     string
	DatabaseURL string
}

// Resolve returns the kit's services as every lab test finds them (MSGLABS_AMQP_URL, MSGLABS_DATABASE_URL, the
// local defaults, …; see package infra).
func Resolve(ctx context.Context) (Kit, error) {
	eps, err := infra.Resolve(ctx)
	if err != nil {
		return Kit{}, err
	}
	return Kit{AMQPURL: eps.AMQP.URL, DatabaseURL: eps.Database.URL}, nil
}

// Result says what a Sweep or a Clean did.
type Result struct {
	Removed []Record // deleted from the broker or the database, and from the registry
	Live    int      // records left alone because their process still runs (Sweep only)
}

// List returns every registered name, oldest first.
func (k Kit) List(ctx context.Context) ([]Record, error) {
	return k.query(ctx, "true")
}

// Sweep removes the leftovers of owner whose process is gone: records of this host whose process no longer runs.
// A record from another host is left alone (its process cannot be checked from here; Clean handles it by age).
func (k Kit) Sweep(ctx context.Context, owner string) (Result, error) {
	recs, err := k.query(ctx, "owner = $1", owner)
	if err != nil {
		return Result{}, err
	}
	var gone []Record
	live := 0
	host := hostname()
	for _, r := range recs {
		if r.Host == host && !alive(r.PID, r.Started) {
			gone = append(gone, r)
		} else {
			live++
		}
	}
	removed, err := k.remove(ctx, gone)
	return Result{Removed: removed, Live: live}, err
}

// Since returns the names registered on this host at or after t that are still registered: what the test runs
// since t left behind (their process gone) or still hold (their process running). Alive says which.
func (k Kit) Since(ctx context.Context, t time.Time) ([]Left, error) {
	recs, err := k.query(ctx, "host = $1 AND created >= $2", hostname(), t)
	if err != nil {
		return nil, err
	}
	out := make([]Left, 0, len(recs))
	for _, r := range recs {
		out = append(out, Left{Record: r, Alive: alive(r.PID, r.Started)})
	}
	return out, nil
}

// Left is a registered name and whether the process that registered it still runs.
type Left struct {
	Record
	Alive bool
}

// Clean removes every registered name, of every owner, created more than olderThan ago: for the instructor, after
// a day on the room's broker. Tests take seconds, so an hour's bound never touches a running one.
func (k Kit) Clean(ctx context.Context, olderThan time.Duration) (Result, error) {
	recs, err := k.query(ctx, "created < now() - $1::interval", fmt.Sprintf("%d milliseconds", olderThan.Milliseconds()))
	if err != nil {
		return Result{}, err
	}
	removed, err := k.remove(ctx, recs)
	return Result{Removed: removed}, err
}

func (k Kit) query(ctx context.Context, where string, args ...any) ([]Record, error) {
	reg, err := Open(ctx, k.DatabaseURL)
	if err != nil {
		return nil, err
	}
	defer reg.Close()
	return reg.list(ctx, where, args...)
}

// remove deletes each record's object (queues and exchanges on the broker, schemas in the database), then its
// record. What no longer exists counts as removed; a record whose object could not be deleted stays registered.
func (k Kit) remove(ctx context.Context, recs []Record) ([]Record, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	var broker, schemas []Record
	for _, r := range recs {
		if r.Kind == Schema {
			schemas = append(schemas, r)
		} else {
			broker = append(broker, r)
		}
	}
	var removed []Record
	var errs []error
	if len(broker) > 0 {
		if err := DeleteBrokerNames(ctx, k.AMQPURL, names(broker)...); err != nil {
			errs = append(errs, err)
		} else {
			removed = append(removed, broker...)
		}
	}
	for _, r := range schemas {
		if err := DropSchema(ctx, k.DatabaseURL, r.Name); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, r)
	}
	if len(removed) > 0 {
		reg, err := Open(ctx, k.DatabaseURL)
		if err != nil {
			return nil, errors.Join(append(errs, err)...)
		}
		defer reg.Close()
		if err := reg.Forget(ctx, names(removed)...); err != nil {
			return nil, errors.Join(append(errs, err)...)
		}
	}
	return removed, errors.Join(errs...)
}

func names(recs []Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Name
	}
	return out
}

// DeleteBrokerNames deletes, for each name, the queue and the exchange of that name, over one connection of its
// own. Deleting what does not exist is fine (RabbitMQ answers delete-ok), so it is idempotent.
func DeleteBrokerNames(ctx context.Context, amqpURL string, names ...string) error {
	if len(names) == 0 {
		return nil
	}
	conn, err := amqp.DialConfig(amqpURL, amqp.Config{Properties: amqp.Table{"connection_name": "msglabs leftovers"}})
	if err != nil {
		return fmt.Errorf("connect to RabbitMQ to delete leftovers: %w", err)
	}
	defer conn.Close()
	return DeleteBrokerNamesOn(ctx, conn, names...)
}

// DeleteBrokerNamesOn is DeleteBrokerNames over a connection the caller already has (and keeps: it is not closed).
// The names share one channel: the first failed delete closes it, and ends the call with that error.
func DeleteBrokerNamesOn(ctx context.Context, conn *amqp.Connection, names ...string) error {
	if len(names) == 0 {
		return nil
	}
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel to delete leftovers: %w", err)
	}
	for _, n := range names {
		if err := ctx.Err(); err != nil {
			_ = ch.Close()
			return err
		}
		if err := deleteName(ch, n); err != nil {
			return err
		}
	}
	return ch.Close()
}

// deleteName deletes the queue and the exchange called n.
func deleteName(ch *amqp.Channel, n string) error {
	if _, err := ch.QueueDelete(n,
		false, // ifUnused
		false, // ifEmpty
		false, // noWait
	); err != nil {
		return fmt.Errorf("delete queue %s: %w", n, err)
	}
	if err := ch.ExchangeDelete(n,
		false, // ifUnused
		false, // noWait
	); err != nil {
		return fmt.Errorf("delete exchange %s: %w", n, err)
	}
	return nil
}

// dropLockTimeout bounds how long dropping a schema waits for locks held by a dead test's sessions (PostgreSQL
// ends those as soon as it notices their client is gone).
const dropLockTimeout = "3s"

// DropSchema drops a schema and everything in it, if it exists, on a connection of its own.
func DropSchema(ctx context.Context, databaseURL, name string) error {
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL to drop schema %s: %w", name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return DropSchemaOn(ctx, conn, name)
}

// beginner is a connection or a pool: what DropSchemaOn needs to open its transaction.
type beginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// DropSchemaOn is DropSchema on a connection or pool the caller already has. Its lock timeout is the transaction's
// own (SET LOCAL), so a pooled connection goes back as it came.
func DropSchemaOn(ctx context.Context, db beginner, name string) error {
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '"+dropLockTimeout+"'"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE")
		return err
	})
	if err != nil {
		return fmt.Errorf("drop schema %s: %w", name, err)
	}
	return nil
}
