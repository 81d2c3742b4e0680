// Mistake memory-claim-check: the PDF waits in a package-level map, which the Mailer, another process, cannot see
// a map is the simplest store, and in a test that runs Billing and the Mailer in one process it even works.

package contracts

import (
	"context"
	"fmt"
	"sync"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"
)

// stored holds the PDFs by claim until the Mailer redeems them.
var stored sync.Map

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
	claim := uuid.NewString()
	stored.Store(claim, inv.PDF)
	msg := InvoiceIssued{OrderID: inv.OrderID, Claim: claim, Bytes: len(inv.PDF)}
	return publishConfirmed(ctx, ch, iv.Queue, "invoice-"+inv.OrderID, InvoiceIssuedType, msg)
}

// OpenInvoice is the Mailer's side: it redeems msg's claim. It only reads, so a retried delivery gets the same PDF.
func OpenInvoice(ctx context.Context, db *pgxpool.Pool, msg InvoiceIssued) ([]byte, error) {
	pdf, ok := stored.Load(msg.Claim)
	if !ok {
		return nil, fmt.Errorf("no stored invoice for %s under claim %q", msg.OrderID, msg.Claim)
	}
	return pdf.([]byte), nil
}
