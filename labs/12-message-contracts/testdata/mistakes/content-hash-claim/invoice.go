// Mistake content-hash-claim: the claim is the PDF's fingerprint, so an invoice stored once cannot be stored again, and a retried issue fails
// Why an attendee writes it: a content address looks like the safest claim there is: unique, stable, and the same PDF is stored only once.

package contracts

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"
)

// attachmentTTL is how long a stored invoice waits to be redeemed: far longer than any retry, redelivery or replay of
// the message that carries its claim.
const attachmentTTL = 30 * 24 * time.Hour

// Invoice is a rendered invoice: the PDF Billing made for one order.
type Invoice struct {
	OrderID string
	PDF     []byte
}

// InvoiceIssued tells the Mailer that an order's invoice is ready to be e-mailed to the customer.
type InvoiceIssued struct {
	OrderID string `json:"order_id"`
	Claim   string `json:"claim"` // redeem it with OpenInvoice: the PDF waits in the attachments table
	Bytes   int    `json:"bytes"` // the PDF's size, for people reading the queue
}

// InvoiceIssuedType names InvoiceIssued on the wire.
const InvoiceIssuedType = "InvoiceIssued"

// Invoicer is Billing's side of invoicing. It is safe for concurrent use; the channel passed to Issue is not.
type Invoicer struct {
	DB    *pgxpool.Pool // Billing's database
	Queue string        // the Mailer's invoices queue
}

// Issue hands inv to the Mailer: it stores the PDF under a fresh claim, then publishes InvoiceIssued with the claim on
// ch (in confirm mode, owned by the caller) and returns once the broker has confirmed it.
func (iv *Invoicer) Issue(ctx context.Context, ch *amqp.Channel, inv Invoice) error {
	claim := Fingerprint(inv.PDF)
	_, err := iv.DB.Exec(ctx,
		`INSERT INTO attachments (claim, order_id, content, expires_at) VALUES ($1, $2, $3, $4)`,
		claim, inv.OrderID, inv.PDF, time.Now().Add(attachmentTTL))
	if err != nil {
		return fmt.Errorf("store the invoice for %s: %w", inv.OrderID, err)
	}
	msg := InvoiceIssued{OrderID: inv.OrderID, Claim: claim, Bytes: len(inv.PDF)}
	return publishConfirmed(ctx, ch, iv.Queue, "invoice-"+inv.OrderID, InvoiceIssuedType, msg)
}

// OpenInvoice is the Mailer's side: it redeems msg's claim. It only reads, so a retried delivery gets the same PDF.
func OpenInvoice(ctx context.Context, db *pgxpool.Pool, msg InvoiceIssued) ([]byte, error) {
	var pdf []byte
	err := db.QueryRow(ctx, `SELECT content FROM attachments WHERE claim = $1`, msg.Claim).Scan(&pdf)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("no stored invoice for %s under claim %q (expired?)", msg.OrderID, msg.Claim)
	}
	if err != nil {
		return nil, fmt.Errorf("redeem claim %q for %s: %w", msg.Claim, msg.OrderID, err)
	}
	return pdf, nil
}
