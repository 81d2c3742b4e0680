// Mistake prefix-key: the ids are remembered by their first three letters, so o-1 hides o-17.
// Every visible test uses one-digit ids.
package steps

// Handle charges the order of one delivery.
func (b *Billing) Handle(id string) {
	key := id[:min(3, len(id))]
	if b.Seen[key] {
		return
	}
	b.Seen[key] = true
	b.Charged = append(b.Charged, id)
}
