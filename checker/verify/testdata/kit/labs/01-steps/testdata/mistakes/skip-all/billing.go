// Mistake skip-all: nothing is charged twice because nothing is charged.
// An attendee who only looks at the duplicate test makes it quiet this way.
package steps

// Handle charges the order of one delivery.
func (b *Billing) Handle(id string) {}
