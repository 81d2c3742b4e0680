// Mistake package-mutex: Handle holds a lock in memory from the check to the record, which holds back no other instance: each is a process of its own
// The explorer showed a copy slipping in between the check and the record; a mutex closes that gap in every test
// that runs both copies in one process.

package proof

import (
	"context"
	"fmt"
	"sync"

	"msglabs/shared/shop"
)

// Billing charges customers for BillOrder commands and announces each charge with an OrderBilled event.
//
// Several Billing instances consume the same queue, and the broker delivers every message at least once: two instances
// may handle copies of one message at the same time, and an instance that crashes before its ack gets the message
// again (or another instance does). A Billing keeps nothing in memory between messages; it is safe for concurrent use
// when its partitions are.
type Billing struct {
	Inbox  Inbox         // partition 1: which messages were handled
	Ledger Ledger        // partition 2: the charges (no transaction spans both partitions)
	Events Events        // where OrderBilled goes
	NewID  func() string // a fresh unique id on every call
}

// handling lets one Handle run at a time.
var handling sync.Mutex

// Handle charges for one delivery of the BillOrder cmd that came as message messageID. The caller acks the delivery
// when Handle returns nil.
func (b *Billing) Handle(ctx context.Context, messageID string, cmd shop.BillOrder) error {
	handling.Lock() // one message at a time: no copy can slip in between the check and the record
	defer handling.Unlock()
	seen, err := b.Inbox.Seen(ctx, messageID)
	if err != nil {
		return fmt.Errorf("check inbox for %s: %w", messageID, err)
	}
	if seen {
		return nil // handled before: nothing to do
	}
	charge := Charge{ID: b.NewID(), OrderID: cmd.OrderID, Cents: cmd.Cents, BilledID: b.NewID()}
	if _, err := b.Ledger.Add(ctx, charge); err != nil {
		return fmt.Errorf("charge order %s: %w", cmd.OrderID, err)
	}
	billed := shop.OrderBilled{OrderID: charge.OrderID, Cents: charge.Cents}
	if err := b.Events.Publish(ctx, charge.BilledID, billed); err != nil {
		return fmt.Errorf("publish OrderBilled for %s: %w", cmd.OrderID, err)
	}
	if err := b.Inbox.Record(ctx, messageID); err != nil {
		return fmt.Errorf("record %s in inbox: %w", messageID, err)
	}
	return nil
}
