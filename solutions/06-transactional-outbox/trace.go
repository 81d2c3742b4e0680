//go:build solution

// Why this fix: a trace only connects what carries its context, and a message is the only thing that travels from
// Sales to Billing. Sales writes the W3C traceparent (and tracestate) of the customer's request into the event's
// headers with its propagator, at the moment it stores the event; the relay publishes those headers later, and
// Billing's propagator continues the trace from them. This is one good answer, not the only one: OpenTelemetry's
// messaging conventions also suggest a link from the consumer's span to the producer's, when a consumer handles
// messages of many traces at once.

package outbox

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
)

// eventHeaders returns the headers of an event Sales publishes about the request that ctx belongs to: the request's
// trace context, so that Billing's span continues the customer's trace.
func (s *Sales) eventHeaders(ctx context.Context) map[string]string {
	headers := map[string]string{}
	s.Propagator.Inject(ctx, propagation.MapCarrier(headers))
	return headers
}
