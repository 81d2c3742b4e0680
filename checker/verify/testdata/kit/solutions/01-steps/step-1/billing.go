//go:build solution

// Why this fix (step 1): a redelivered id is remembered, so it is charged once.
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
