// Mistake charge-id-from-order-id: the charge's id comes from the order id, so a second bill for the same order is taken for a copy of the first and never charged
// "One order, one charge": the order id is the natural key, and every copy of m-1 carries the same order id.

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
	proposed := Charge{ID: chargeID(cmd.OrderID), OrderID: cmd.OrderID, Cents: cmd.Cents, BilledID: billedID(cmd.OrderID)}
	charge, err := b.Ledger.Add(ctx, proposed)
	if err != nil {
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

// chargeID is the ledger key of an order's charge: the same for every copy and every retry.
func chargeID(orderID string) string { return "charge-for-" + orderID }

// billedID is the message id of the OrderBilled that announces that charge.
func billedID(orderID string) string { return "billed-for-" + orderID }
