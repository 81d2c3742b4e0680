//go:build solution

// Why this fix: the ids are remembered in Seen, which survives a restart.
package steps

// Handle charges the order of one delivery.
func (b *Billing) Handle(id string) {
	if b.Seen[id] {
		return
	}
	b.Seen[id] = true
	b.Charged = append(b.Charged, id)
}
