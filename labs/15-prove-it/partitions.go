package proof

import (
	"context"

	"msglabs/shared/shop"
)

// Billing's storage is split in two partitions that share no transaction: the inbox (which messages Billing has
// handled) lives in one, the ledger (the charges, Billing's business data) in the other. Each call below is one
// step: a single transaction in one partition, or one broker operation. Between any two steps another copy of the
// same message may be handled, or the process may crash and the broker deliver the message again.
//
// The step names are also the crash points of the real run on PostgreSQL.
const (
	StepCheckInbox  = "check inbox"
	StepCharge      = "add charge to ledger"
	StepPublish     = "publish OrderBilled"
	StepRecordInbox = "record in inbox"
	StepAck         = "ack"
)

// Charge is one row of the ledger: money taken for an order, and the id of the OrderBilled event that announces it.
type Charge struct {
	ID       string // the charge's key in the ledger: two charges with one ID are one charge
	OrderID  string
	Cents    int
	BilledID string // the message id of the OrderBilled event announcing this charge
}

// Inbox is the partition that remembers which messages were handled.
type Inbox interface {
	// Seen reports whether messageID was recorded.
	Seen(ctx context.Context, messageID string) (bool, error)
	// Record notes that messageID was handled (recording it twice is harmless).
	Record(ctx context.Context, messageID string) error
}

// Ledger is the partition with Billing's business data.
type Ledger interface {
	// Add stores c unless a charge with c.ID is already there, and returns the charge stored under c.ID: c itself,
	// or the one stored earlier. It is one transaction in the ledger's partition, nothing more.
	Add(ctx context.Context, c Charge) (Charge, error)
}

// Events publishes Billing's events, waiting for the broker's confirm.
type Events interface {
	Publish(ctx context.Context, messageID string, e shop.OrderBilled) error
}
