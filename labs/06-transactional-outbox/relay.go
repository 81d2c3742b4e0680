package outbox

import "context"

// Run is Sales' background work, for as long as ctx lasts. Today there is none: PlaceOrder publishes each event
// itself. Run returns nil when ctx is done.
func (s *Sales) Run(ctx context.Context) error {
	// TODO(lab): with an outbox, this is the relay. Loop until ctx is done: in a transaction, claim a batch of
	// outbox rows (ORDER BY id, FOR UPDATE SKIP LOCKED, so a second relay skips them instead of waiting), publish
	// them on a confirmed channel of your own, wait for the confirms, delete the rows, commit. Pause briefly when
	// the outbox is empty. Never "WHERE id > last seen": a row committed late by a longer transaction is skipped.
	<-ctx.Done()
	return nil
}
