// Package steps is a throw-away lab: Billing must charge each order once, whatever is delivered twice and across
// restarts.
package steps

// Billing charges orders. Seen survives a restart; memory does not.
type Billing struct {
	Seen    map[string]bool
	Charged []string
	memory  map[string]bool
}

// Restart loses what the process held in memory.
func (b *Billing) Restart() { b.memory = nil }

// New returns a Billing with an empty durable record.
func New() *Billing { return &Billing{Seen: map[string]bool{}} }
