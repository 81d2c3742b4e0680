// Mistake http-header-carrier: the trace context was written with the HTTP carrier, whose keys are canonicalised ("Traceparent"), so Billing does not find it
// Why an attendee writes it: ServeHTTP reads the trace with propagation.HeaderCarrier, so writing it with the same carrier looks consistent.

package outbox

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/propagation"
)

// eventHeaders returns the headers of an event Sales publishes about the request that ctx belongs to: the request's
// trace context, so that Billing's span continues the customer's trace.
func (s *Sales) eventHeaders(ctx context.Context) map[string]string {
	h := http.Header{}
	s.Propagator.Inject(ctx, propagation.HeaderCarrier(h)) // the carrier ServeHTTP uses
	headers := map[string]string{}
	for k := range h {
		headers[k] = h.Get(k)
	}
	return headers
}
