// Mistake publish-before-charge: OrderBilled goes out before the charge is in the ledger, so for a while, or for good after a crash, Shipping hears of a charge nobody made
// "Tell Shipping as early as possible": with deterministic ids every retry mends things, so the order of the two
// looks free.

package proof

import (
	"context"
	"fmt"

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
	NewID  func() string // a fresh unique id on every call (no longer used: ids now come from the message)
}

// Handle charges for one delivery of the BillOrder cmd that came as message messageID. The caller acks the delivery
// when Handle returns nil.
func (b *Billing) Handle(ctx context.Context, messageID string, cmd shop.BillOrder) error {
	seen, err := b.Inbox.Seen(ctx, messageID)
	if err != nil {
		return fmt.Errorf("check inbox for %s: %w", messageID, err)
	}
	if seen {
		return nil // handled and announced before: a shortcut only, the ledger is the guard
	}
	proposed := Charge{ID: chargeID(messageID), OrderID: cmd.OrderID, Cents: cmd.Cents, BilledID: billedID(messageID)}
	billed := shop.OrderBilled{OrderID: proposed.OrderID, Cents: proposed.Cents}
	if err := b.Events.Publish(ctx, proposed.BilledID, billed); err != nil {
		return fmt.Errorf("publish OrderBilled for %s: %w", cmd.OrderID, err)
	}
	if _, err := b.Ledger.Add(ctx, proposed); err != nil {
		return fmt.Errorf("charge order %s: %w", cmd.OrderID, err)
	}
	if err := b.Inbox.Record(ctx, messageID); err != nil {
		return fmt.Errorf("record %s in inbox: %w", messageID, err)
	}
	return nil
}

// chargeID is the ledger key of the charge that message messageID causes: the same for every copy and every retry.
func chargeID(messageID string) string { return "charge-for-" + messageID }

// billedID is the message id of the OrderBilled that announces that charge.
func billedID(messageID string) string { return "billed-for-" + messageID }
