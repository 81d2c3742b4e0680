package contracts

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"
)

// Invoice is a rendered invoice: the PDF Billing made for one order.
type Invoice struct {
	OrderID string
	PDF     []byte
}

// InvoiceIssued tells the Mailer that an order's invoice is ready to be e-mailed to the customer.
type InvoiceIssued struct {
	OrderID string `json:"order_id"`
	PDF     []byte `json:"pdf"` // the invoice itself (base64 in JSON)
}

// InvoiceIssuedType names InvoiceIssued on the wire.
const InvoiceIssuedType = "InvoiceIssued"

// Invoicer is Billing's side of invoicing. It is safe for concurrent use; the channel passed to Issue is not.
type Invoicer struct {
	DB    *pgxpool.Pool // Billing's database
	Queue string        // the Mailer's invoices queue
}

// Issue hands inv to the Mailer: it publishes InvoiceIssued on ch (in confirm mode, owned by the caller) and returns
// once the broker has confirmed it. A refused message comes back as an error wrapping ErrRefused.
func (iv *Invoicer) Issue(ctx context.Context, ch *amqp.Channel, inv Invoice) error {
	// TODO(lab): step 1. The whole PDF travels inside the message, and operations caps the invoices queue at
	// InvoiceQueueMaxBytes: the broker refuses a big invoice, every time, however often Billing retries. Let the
	// message announce the invoice and something else hold it (the attachments table is there for that). Whatever
	// you store must outlive every retry of the message that points at it, and go away one day.
	msg := InvoiceIssued{OrderID: inv.OrderID, PDF: inv.PDF}
	return publishConfirmed(ctx, ch, iv.Queue, "invoice-"+inv.OrderID, InvoiceIssuedType, msg)
}

// OpenInvoice is the Mailer's side: it returns the PDF that msg stands for. The Mailer calls it each time msg is
// delivered, so it must give the same answer when a delivery is retried.
func OpenInvoice(ctx context.Context, db *pgxpool.Pool, msg InvoiceIssued) ([]byte, error) {
	// TODO(lab): step 1. Open what the message points at. The Mailer calls this again when an e-mail failed and the
	// message comes back: it must find the same PDF every time.
	if len(msg.PDF) == 0 {
		return nil, fmt.Errorf("invoice for %s carries no PDF", msg.OrderID)
	}
	return msg.PDF, nil
}
