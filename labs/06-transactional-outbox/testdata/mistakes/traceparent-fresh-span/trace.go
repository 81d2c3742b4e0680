// Mistake traceparent-fresh-span: the traceparent was written by hand with the request's trace id and a new random span id, so Billing's span hangs under a parent that never existed
// Why an attendee writes it: the W3C format is one line (version-traceid-parentid-flags), and the message is a new hop, so it seems to want an id of its own

package outbox

import (
	"context"
	"crypto/rand"
	"fmt"

	"go.opentelemetry.io/otel/trace"
)

// eventHeaders returns the headers of an event Sales publishes about the request that ctx belongs to: the request's
// trace context, so that Billing's span continues the customer's trace.
func (s *Sales) eventHeaders(ctx context.Context) map[string]string {
	headers := map[string]string{}
	sc := trace.SpanContextFromContext(ctx)
	var span [8]byte
	_, _ = rand.Read(span[:])
	headers["traceparent"] = fmt.Sprintf("00-%s-%x-01", sc.TraceID(), span) // W3C: version-trace-parent-flags
	return headers
}
