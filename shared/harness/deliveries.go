package harness

// countDelivery notes that the broker handed the message with this id to a recorded connection (a delivery to a
// consumer or an answer to basic.get). Messages without an id are not counted.
func (e *Env) countDelivery(messageID string) {
	if messageID == "" {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.delivered == nil {
		e.delivered = map[string]int{}
	}
	e.delivered[messageID]++
}

// Deliveries reports how many times the broker has handed the message with this id to any recorded process, as seen
// on the wire: the first delivery and every redelivery (after a nack with requeue, a crash, a closed channel) count.
// A test uses it to prove a message is looping without relying on the service's own bookkeeping.
func (e *Env) Deliveries(messageID string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.delivered[messageID]
}
