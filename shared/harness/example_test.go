package harness_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/fault"
	"msglabs/shared/harness"
	"msglabs/shared/shop"
	"msglabs/shared/story"
)

// TestExampleLabTest is the shape of a lab test, short enough to copy: a service under test (here a correct,
// idempotent Billing, so it passes), a failure injected deterministically (a crash right after the charge commits),
// a bounded wait that ends as soon as the system is done or quiet, and a verdict told as a story. In a lab, the
// starter's Billing lacks the inbox and this test fails with
//
//	DUPLICATE: order o-1 was charged 2 times (1 placed, 2 charged); m-1 was redelivered after Billing crashed …
//
// followed by the timeline. Run it: go test -run TestExampleLabTest ./shared/harness/
func TestExampleLabTest(t *testing.T) {
	env := harness.New(t)        // the test's own names, schema and timeline; removed when the test ends
	env.Exec(exampleSchema)      // tables in the test's schema
	queue := env.Name("billing") // every broker name comes from env.Name
	charged := story.Expect{Item: "order", From: "placed", Done: "charged"}

	first := startExampleBilling(env, queue)
	first.Points.Arm(fault.AfterCommit) // the next visit of this point kills the process where it stands
	env.Publisher("sales").SendWithID("m-1", "", queue, shop.BillOrder{OrderID: "o-1", Cents: 4200})
	select {
	case <-first.Points.Crashed():
	case <-time.After(harness.Patience):
		t.Fatalf("Billing never reached %q: %v", fault.AfterCommit, first.Err())
	}
	if !env.WaitConsuming(queue, 0) { // the broker dropped the dead consumer and requeued m-1
		t.Fatalf("the broker still counts Billing's consumer on %q", env.Short(queue))
	}

	startExampleBilling(env, queue) // "billing#2" in the timeline: the restart gets m-1 again, redelivered
	env.Settle(func() bool { return env.Deliveries("m-1") >= 2 && env.Unacked() == 0 }, queue)
	env.ExactlyOnce(charged.Because("m-1 was redelivered after Billing crashed at %q", fault.AfterCommit),
		[]string{"o-1"}, env.Strings(`SELECT order_id FROM charges`))
}

const exampleSchema = `
CREATE TABLE charges (order_id text NOT NULL, cents int NOT NULL);
CREATE TABLE inbox (message_id text PRIMARY KEY);`

// startExampleBilling runs Billing as a harness process (its connections go through the test's proxies, so its
// crash is faithful and the timeline sees its traffic) and waits until it consumes.
func startExampleBilling(env *harness.Env, queue string) *harness.Process {
	env.T.Helper()
	proc := env.Process("billing")
	conn, pool := proc.MustDial(), proc.Pool()
	ch, err := conn.Channel()
	if err != nil {
		env.T.Fatalf("open channel: %v", err)
	}
	if _, err := ch.QueueDeclare(queue,
		true,  // durable
		false, // autoDelete
		false, // exclusive
		false, // noWait
		nil); err != nil {
		env.T.Fatalf("declare %q: %v", env.Short(queue), err)
	}
	deliveries, err := ch.Consume(queue, "",
		false, // autoAck
		false, // exclusive
		false, // noLocal
		false, // noWait
		nil)
	if err != nil {
		env.T.Fatalf("consume %q: %v", env.Short(queue), err)
	}
	proc.Go(func(ctx context.Context) error { return exampleBilling(ctx, pool, proc.Points, deliveries) })
	if !env.WaitConsuming(queue, 1) {
		env.T.Fatalf("Billing did not start consuming %q: %v", env.Short(queue), proc.Err())
	}
	return proc
}

// exampleBilling charges each BillOrder once: the message id goes into the inbox in the same transaction as the
// charge, so a redelivery after a crash finds it and only acks.
func exampleBilling(ctx context.Context, pool *pgxpool.Pool, points *fault.Points, deliveries <-chan amqp.Delivery) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case d, ok := <-deliveries:
			if !ok {
				return nil
			}
			if err := charge(ctx, pool, d); err != nil {
				return fmt.Errorf("charge %s: %w", d.MessageId, err)
			}
			points.At(fault.AfterCommit)
			if err := d.Ack(false); err != nil {
				return fmt.Errorf("ack %s: %w", d.MessageId, err)
			}
		}
	}
}

func charge(ctx context.Context, pool *pgxpool.Pool, d amqp.Delivery) error {
	var order shop.BillOrder
	if err := shop.Decode(d.Body, &order); err != nil {
		return err
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO inbox VALUES ($1) ON CONFLICT DO NOTHING`, d.MessageId)
		if err != nil || tag.RowsAffected() == 0 {
			return err // a duplicate: already charged
		}
		_, err = tx.Exec(ctx, `INSERT INTO charges VALUES ($1, $2)`, order.OrderID, order.Cents)
		return err
	})
}
