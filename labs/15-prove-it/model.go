package proof

import (
	"context"
	"fmt"

	"msglabs/shared/explore"
	"msglabs/shared/shop"
)

// Partitions is the explorer's in-memory copy of Billing's world: the inbox partition, the ledger partition, and what
// went out to the broker. Each method of the views below is one step: the process waits for the explorer's turn
// (and may crash there) before it touches a partition. Only one process runs at a time, so no locks are needed.
type Partitions struct {
	inbox     map[string]bool // partition 1: handled message ids
	ledger    []Charge        // partition 2: charges, in the order they were added
	published []Publication   // OrderBilled events the broker confirmed
	ids       int             // last id handed out by NewID
}

// Publication is one OrderBilled event that reached the broker.
type Publication struct {
	MessageID string
	Event     shop.OrderBilled
}

// NewPartitions returns empty partitions.
func NewPartitions() *Partitions { return &Partitions{inbox: map[string]bool{}} }

// Billing returns a Billing whose partitions are these, seen by process p.
func (w *Partitions) Billing(p *explore.Proc) *Billing {
	return &Billing{
		Inbox:  modelInbox{w: w, p: p},
		Ledger: modelLedger{w: w, p: p},
		Events: modelEvents{w: w, p: p},
		NewID:  w.newID,
	}
}

// Ledger returns the ledger's charges, in the order they were added. The slice is the model's own: read it, do not
// keep it.
func (w *Partitions) Ledger() []Charge { return w.ledger }

// Charges returns the ledger's charges for orderID.
func (w *Partitions) Charges(orderID string) []Charge {
	var out []Charge
	for _, c := range w.ledger {
		if c.OrderID == orderID {
			out = append(out, c)
		}
	}
	return out
}

// Published returns the OrderBilled events that went out, in order.
func (w *Partitions) Published() []Publication { return w.published }

// newID hands out "id-1", "id-2", …: fresh every call, and the same sequence in every schedule.
func (w *Partitions) newID() string {
	w.ids++
	return fmt.Sprintf("id-%d", w.ids)
}

type modelInbox struct {
	w *Partitions
	p *explore.Proc
}

func (i modelInbox) Seen(_ context.Context, messageID string) (bool, error) {
	i.p.Step(StepCheckInbox)
	seen := i.w.inbox[messageID]
	if seen {
		i.p.Note("%s already recorded", messageID)
	} else {
		i.p.Note("%s not seen", messageID)
	}
	return seen, nil
}

func (i modelInbox) Record(_ context.Context, messageID string) error {
	i.p.Step(StepRecordInbox)
	i.w.inbox[messageID] = true
	i.p.Note("%s recorded", messageID)
	return nil
}

type modelLedger struct {
	w *Partitions
	p *explore.Proc
}

func (l modelLedger) Add(_ context.Context, c Charge) (Charge, error) {
	l.p.Step(StepCharge)
	for _, stored := range l.w.ledger {
		if stored.ID == c.ID {
			l.p.Note("charge %s already there, nothing added", c.ID)
			return stored, nil
		}
	}
	l.w.ledger = append(l.w.ledger, c)
	l.p.Note("charge %s added: order %s, %d cents, to be announced as %s", c.ID, c.OrderID, c.Cents, c.BilledID)
	return c, nil
}

type modelEvents struct {
	w *Partitions
	p *explore.Proc
}

func (e modelEvents) Publish(_ context.Context, messageID string, ev shop.OrderBilled) error {
	e.p.Step(StepPublish)
	e.w.published = append(e.w.published, Publication{MessageID: messageID, Event: ev})
	e.p.Note("%s OrderBilled %s, %d cents", messageID, ev.OrderID, ev.Cents)
	return nil
}
