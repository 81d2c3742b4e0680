package harness

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"
)

// Everything a test creates is gone after it, even when the test fails, and names never collide across tests.
func TestCleanupRemovesQueuesExchangesAndSchema(t *testing.T) {
	var queue, declaredOnly, exchange, schema string
	t.Run("inner", func(t *testing.T) {
		env := New(t)
		queue, exchange = env.Name("billing"), env.Name("events")
		declaredOnly = queue + ".retry" // never given out by Name: found on the wire
		ch, err := env.Process("svc").MustDial().Channel()
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{queue, declaredOnly} {
			if _, err := ch.QueueDeclare(q, true, false, false, false, nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := ch.ExchangeDeclare(exchange, "topic", true, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
		env.Exec(`CREATE TABLE t (id int)`)
		schema = env.Schema()
		if other := New(t); other.Name("billing") == queue {
			t.Fatal("two envs handed out the same name")
		}
	})
	env := New(t)
	for _, q := range []string{queue, declaredOnly} {
		if env.QueueExists(q) {
			t.Errorf("queue %s survived its test", q)
		}
	}
	conn, err := amqp.Dial(env.AMQPURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, _ := conn.Channel()
	if err := ch.ExchangeDeclarePassive(exchange, "topic", true, false, false, false, nil); err == nil {
		t.Errorf("exchange %s survived its test", exchange)
	}
	ctx := context.Background()
	db, err := pgx.Connect(ctx, env.DatabaseURL())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	var n int
	if err := db.QueryRow(ctx, `SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1`, schema).Scan(&n); err != nil || n != 0 {
		t.Errorf("schema %s survived its test (n=%d, err=%v)", schema, n, err)
	}
}

// Settle returns at once when the condition holds, and soon (not at Patience) when nothing is happening.
func TestSettleEndsEarly(t *testing.T) {
	env := New(t)
	if !env.Settle(func() bool { return true }) {
		t.Fatal("Settle false for a true condition")
	}
	began := time.Now()
	if env.Settle(func() bool { return false }) {
		t.Fatal("Settle true for a false condition")
	}
	if took := time.Since(began); took >= Patience/2 {
		t.Fatalf("Settle on an idle system took %v: it should end after about %v of quiet", took, Quiet)
	}
}
