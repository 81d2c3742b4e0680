// Mistake shared-metrics-channel: one channel was kept for every scrape, and the broker closes it the first time it asks about a queue that does not exist yet
// Why an attendee writes it: a channel per scrape looks wasteful, and NewMetrics is the natural place to set things up.

package competing

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	amqp "github.com/rabbitmq/amqp091-go"
)

// Metrics is what Billing tells Prometheus about its work. Serve reg with promhttp.HandlerFor(reg, …) on /metrics.
// A Metrics is safe for concurrent use; a nil *Metrics counts nothing.
type Metrics struct {
	processed prometheus.Counter
	failed    prometheus.Counter
}

// NewMetrics registers Billing's metrics on reg. conn is a broker connection for looking at queue (the Metrics
// opens its own channel on it when it needs one); the caller owns conn.
func NewMetrics(reg prometheus.Registerer, conn *amqp.Connection, queue string) (*Metrics, error) {
	m := &Metrics{
		processed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "billing_messages_processed_total",
			Help: "BillOrder messages handled and acked. Its rate() is Billing's throughput.",
		}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "billing_messages_failed_total",
			Help: "BillOrder messages whose handling failed. Its rate() over the processed rate is the error rate.",
		}),
	}
	backlog, err := newBacklog(conn, queue)
	if err != nil {
		return nil, err
	}
	for _, c := range []prometheus.Collector{m.processed, m.failed, backlog} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metric: %w", err)
		}
	}
	return m, nil
}

// Processed counts one message handled and acked.
func (m *Metrics) Processed() {
	if m != nil {
		m.processed.Inc()
	}
}

// Failed counts one message whose handling failed.
func (m *Metrics) Failed() {
	if m != nil {
		m.failed.Inc()
	}
}

// backlog is a prometheus.Collector that looks at the queue on the broker at each scrape. It opens a channel per
// scrape, so concurrent scrapes do not share one.
type backlog struct {
	ch    *amqp.Channel // opened once, used by every scrape
	queue string
	depth *prometheus.Desc
	age   *prometheus.Desc
}

func newBacklog(conn *amqp.Connection, queue string) (*backlog, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("open channel: %w", err)
	}
	return &backlog{
		ch:    ch,
		queue: queue,
		depth: prometheus.NewDesc("billing_queue_depth",
			"BillOrder messages waiting in Billing's queue (ready, not yet handed to an instance).", nil, nil),
		age: prometheus.NewDesc("billing_queue_oldest_message_age_seconds",
			"How long the oldest waiting BillOrder has waited (consumer lag); 0 when none waits.", nil, nil),
	}, nil
}

// Describe implements prometheus.Collector.
func (b *backlog) Describe(ch chan<- *prometheus.Desc) {
	ch <- b.depth
	ch <- b.age
}

// Collect implements prometheus.Collector: one look at the queue gives both numbers.
func (b *backlog) Collect(ch chan<- prometheus.Metric) {
	depth, age, err := b.look()
	if err != nil {
		ch <- prometheus.NewInvalidMetric(b.depth, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(b.depth, prometheus.GaugeValue, float64(depth))
	ch <- prometheus.MustNewConstMetric(b.age, prometheus.GaugeValue, age.Seconds())
}

// look takes the message at the head of the queue (the oldest waiting), reads its age and how many wait behind it,
// and puts it back at the head with a nack and requeue. The message comes back marked redelivered, which an
// idempotent consumer does not mind.
func (b *backlog) look() (depth int, age time.Duration, err error) {
	head, ok, err := b.ch.Get(b.queue,
		false) // autoAck: we put it back
	if err != nil {
		return 0, 0, fmt.Errorf("look at queue %q: %w", b.queue, err)
	}
	if !ok {
		return 0, 0, nil // nothing waits
	}
	defer func() { _ = head.Nack(false, true) }() // multiple=false, requeue=true: back to the head of the queue
	if sent, ok := SentAt(head.Headers); ok {
		age = max(0, time.Since(sent))
	}
	return int(head.MessageCount) + 1, age, nil // MessageCount counts the messages behind the head
}
