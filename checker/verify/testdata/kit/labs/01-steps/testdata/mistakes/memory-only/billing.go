// Mistake memory-only: the ids are remembered in memory, which a restart loses.
// It is step 1's fix, and it looks finished.
package steps

// Handle charges the order of one delivery.
func (b *Billing) Handle(id string) {
	if b.memory == nil {
		b.memory = map[string]bool{}
	}
	if b.memory[id] {
		return
	}
	b.memory[id] = true
	b.Charged = append(b.Charged, id)
}
