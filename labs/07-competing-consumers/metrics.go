package competing

import (
	"fmt"

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
	for _, c := range []prometheus.Collector{m.processed, m.failed} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register metric: %w", err)
		}
	}
	// TODO(lab): throughput and errors cannot tell a quiet day from a stuck Billing: both show zero. Also export how
	// many messages wait in queue (gauge "billing_queue_depth") and how long the oldest of them has waited
	// (gauge "billing_queue_oldest_message_age_seconds", 0 when none wait), as the broker sees them at each scrape.
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
