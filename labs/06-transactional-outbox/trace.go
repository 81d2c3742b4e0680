package outbox

import "context"

// eventHeaders returns the headers of an event Sales publishes about the request that ctx belongs to.
func (s *Sales) eventHeaders(ctx context.Context) map[string]string {
	// TODO(lab): the customer's request is traced (ServeHTTP continues the caller's trace in ctx), but the trace
	// stops here: OrderPlaced carries no trace context, so Billing's span starts a trace of its own. The relay
	// publishes later, in another goroutine, with no request at hand: whatever should travel with the event must be
	// in the headers now.
	return map[string]string{}
}
