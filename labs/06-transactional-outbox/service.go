package outbox

import (
	"encoding/json"
	"fmt"
	"log"
	"net/http"

	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"msglabs/shared/shop"
)

// You do not need to edit this file: it is Sales' HTTP front (already traced) and its plumbing. How Sales stores an
// order and announces it is in sales.go, how the relay takes a batch of the outbox to the broker in relay.go, and
// which headers an event carries in trace.go.

// OrderPlacedKey is the routing key of OrderPlaced events on Sales' exchange.
const OrderPlacedKey = "OrderPlaced"

// Sales accepts orders over HTTP, stores them and publishes OrderPlaced. A Sales is safe for concurrent use: every
// request opens its own channel on Broker, and Run (outbox.go) uses a channel of its own.
type Sales struct {
	DB         *pgxpool.Pool
	Broker     *amqp.Connection                 // owned by the caller
	Exchange   string                           // Sales' events exchange (topic)
	Tracer     trace.Tracer                     // where Sales' spans go
	Propagator propagation.TextMapPropagator    // reads and writes trace context (W3C traceparent)
	Logf       func(format string, args ...any) // where Sales says what went wrong; nil means the standard logger
}

// ServeHTTP handles POST /orders with a PlaceOrder body. It continues the caller's trace (the traceparent header),
// places the order and answers 201 Created.
func (s *Sales) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx := s.Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, span := s.Tracer.Start(ctx, "sales: place order", trace.WithSpanKind(trace.SpanKindServer))
	defer span.End()

	var cmd shop.PlaceOrder
	if err := json.NewDecoder(r.Body).Decode(&cmd); err != nil {
		http.Error(w, "bad order: "+err.Error(), http.StatusBadRequest)
		return
	}
	span.SetAttributes(attribute.String("order.id", cmd.OrderID))
	if err := s.PlaceOrder(ctx, cmd); err != nil {
		span.RecordError(err)
		http.Error(w, "could not place the order: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

// logf reports through Logf, or the standard logger.
func (s *Sales) logf(format string, args ...any) {
	if s.Logf == nil {
		log.Printf("sales: "+format, args...)
		return
	}
	s.Logf(format, args...)
}

// DeclareExchange declares Sales' events exchange: a durable topic exchange. Declaring is idempotent.
func DeclareExchange(ch *amqp.Channel, exchange string) error {
	err := ch.ExchangeDeclare(exchange, amqp.ExchangeTopic,
		true,  // durable
		false, // autoDelete
		false, // internal
		false, // noWait
		nil)
	if err != nil {
		return fmt.Errorf("declare exchange %q: %w", exchange, err)
	}
	return nil
}

// HeaderCarrier lets OpenTelemetry read and write trace context in AMQP message headers (string values only).
// Use it as s.Propagator.Inject(ctx, HeaderCarrier(table)) on a non-nil amqp.Table.
type HeaderCarrier amqp.Table

// Get returns the string header key, or "".
func (c HeaderCarrier) Get(key string) string {
	v, _ := c[key].(string)
	return v
}

// Set stores a string header.
func (c HeaderCarrier) Set(key, value string) { c[key] = value }

// Keys lists the headers' names.
func (c HeaderCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
