// Mistake background-context: the trace context was taken from a fresh context instead of the request's, so the event carries no trace
// Why an attendee writes it: the event leaves later, from the relay, so the request's context (which is cancelled by then) looks like the wrong one to use.

package outbox

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
)

// eventHeaders returns the headers of an event Sales publishes about the request that ctx belongs to: the request's
// trace context, so that Billing's span continues the customer's trace.
func (s *Sales) eventHeaders(ctx context.Context) map[string]string {
	headers := map[string]string{}
	s.Propagator.Inject(context.Background(), propagation.MapCarrier(headers)) // the relay sends it, not the request
	return headers
}
