//go:build solution

// Do not edit: the relay's benchmark measures the reference relay, so it is built only with the solution:
//   go test -run '^$' -bench . -tags solution -overlay <overlay.json> ./labs/06-transactional-outbox
// Compare its msgs/s with BenchmarkRawPublishConsume in shared/bench: same broker, same consumer, same 1 KiB
// persistent messages, same 256 confirms in flight.

package outbox

import (
	"context"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/bench"
	"msglabs/shared/harness"
)

// benchTimeout bounds one iteration, so a broken relay fails the benchmark instead of hanging it.
const benchTimeout = 2 * time.Minute

// BenchmarkRelay fills the outbox with bench.PerRun rows of 1 KiB, then times Run carrying them to the broker
// (claimed with SKIP LOCKED, published persistent with confirms, deleted) while a manual-ack consumer drains the
// queue. An iteration ends when the consumer has every message and the outbox is empty.
func BenchmarkRelay(b *testing.B) {
	env := harness.New(b)
	env.Exec(Schema)
	exchange, queue := env.Name("sales"), env.Name("drain")
	db := env.DB()
	relayConn, consumerCh := dial(b, env), channel(b, dial(b, env))
	if err := bench.DeclareQueue(consumerCh, exchange, queue, OrderPlacedKey); err != nil {
		b.Fatal(err)
	}
	sales := &Sales{DB: db, Broker: relayConn, Exchange: exchange}

	var busy time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		env.Exec(`INSERT INTO outbox (message_id, message_type, routing_key, body)
			SELECT 'm-' || g, 'OrderPlaced', $1, convert_to(repeat('x', $2), 'UTF8') FROM generate_series(1, $3) g`,
			OrderPlacedKey, bench.MessageSize, bench.PerRun)
		b.StartTimer()
		busy += relayOnce(b, env, sales, consumerCh, queue)
	}
	b.ReportMetric(float64(b.N*bench.PerRun)/busy.Seconds(), "msgs/s")
}

// relayOnce runs the relay until the consumer has drained bench.PerRun messages and the outbox is empty, then stops
// it; it returns how long that took.
func relayOnce(b *testing.B, env *harness.Env, sales *Sales, consumerCh *amqp.Channel, queue string) time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), benchTimeout)
	defer cancel()
	start := time.Now()
	relayCtx, stopRelay := context.WithCancel(ctx)
	relayed := make(chan error, 1)
	go func() { relayed <- sales.Run(relayCtx) }()
	if err := bench.Drain(ctx, consumerCh, queue, bench.PerRun, bench.Window); err != nil {
		b.Fatal(err)
	}
	if !env.EventuallyWithin(benchTimeout, func() bool { return env.Int(`SELECT count(*) FROM outbox`) == 0 }) {
		b.Fatal("the outbox was not emptied after every message was consumed")
	}
	took := time.Since(start)
	stopRelay()
	if err := <-relayed; err != nil {
		b.Fatal(err)
	}
	return took
}

// dial opens a direct connection to the broker (no proxy), closed at cleanup.
func dial(b *testing.B, env *harness.Env) *amqp.Connection {
	conn, err := amqp.Dial(env.AMQPURL())
	if err != nil {
		b.Fatalf("INFRA: connect to RabbitMQ: %v", err)
	}
	b.Cleanup(func() { _ = conn.Close() })
	return conn
}

func channel(b *testing.B, conn *amqp.Connection) *amqp.Channel {
	ch, err := conn.Channel()
	if err != nil {
		b.Fatal(err)
	}
	return ch
}
