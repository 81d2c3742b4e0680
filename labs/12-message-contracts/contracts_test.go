// Do not edit: this test shows the failure.

package contracts

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/harness"
	"msglabs/shared/story"
)

// invoiceSize is the size of the PDF Billing renders for the big order: twice what the invoices queue may hold.
const invoiceSize = 2 << 20

var (
	emailed = story.Expect{Item: "invoice for order", From: "rendered by Billing", Done: "e-mailed to the customer"}
	billed  = story.Expect{Item: "order", From: "placed", Done: "charged by Billing"}
)

// A customer's order comes with a 2 MiB invoice. It must reach the customer's inbox, even though operations caps the
// invoices queue at 1 MiB, and even though the first e-mail attempt fails and the Mailer has to open it again.
func TestLargeInvoiceReachesTheCustomer(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	queue := env.Name("invoices")
	gateway := &EmailGateway{Log: func(format string, args ...any) { env.Log("email-gateway", format, args...) }}
	gateway.FailNext(1) // the first attempt fails: the Mailer gets the message again and must open the invoice again
	startMailer(env, queue, gateway)

	billing := env.Process("billing")
	inv := Invoice{OrderID: "o-1", PDF: fakePDF(invoiceSize)}
	env.Log("billing", "rendered the invoice for %s: a %s PDF", inv.OrderID, size(len(inv.PDF)))
	invoicer := &Invoicer{DB: billing.Pool(), Queue: queue}
	issued := invoicer.Issue(env.Context(), confirmChannel(env, billing), inv)
	outcome := "Billing's Issue returned nil: the broker took the message."
	if issued != nil {
		env.Log("billing", "Issue returned: %v", issued)
		outcome = "Billing's Issue returned: " + issued.Error() + "; the invoices queue takes at most " +
			size(InvoiceQueueMaxBytes) + " of messages."
	}

	env.Settle(func() bool { return len(gateway.Sent()) > 0 }, queue)
	sent := gateway.Sent()
	env.ExactlyOnce(emailed, []string{inv.OrderID}, orderIDs(sent), outcome)
	if sent[0].SHA256 != Fingerprint(inv.PDF) {
		env.Fail(story.Lost, "the customer got an e-mail for order %s, but its PDF is not the invoice Billing rendered", inv.OrderID)
	}
	swept, err := SweepAttachments(env.Context(), env.DB())
	if err != nil {
		t.Fatal(err)
	}
	if env.Int(`SELECT count(*) FROM attachments WHERE order_id = $1`, inv.OrderID) != 1 {
		env.Fail(story.Lost, "the stored invoice for order %s is gone right after it was e-mailed (the sweeper removed %d "+
			"expired attachment(s)): a redelivered InvoiceIssued would find nothing to open. Keep the attachment, "+
			"never delete it in the handler, and give it an expiry well in the future", inv.OrderID, swept)
	}
}

// Sales' new release publishes OrderPlaced v2 while v1 messages are still queued (and a v1 field was added along the
// way). Billing must charge every order, with the right amount, whatever version told it.
func TestBillingReadsEveryVersionOfOrderPlaced(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	queue := env.Name("billing")
	startBilling(env, queue)

	sales := env.Publisher("sales")
	for _, name := range []string{"orderplaced.v1.json", "orderplaced.v2.json", "orderplaced.v1-additive.json"} {
		fx := loadFixture(t, filepath.Join("testdata", name))
		sales.Raw("", queue, amqp.Publishing{
			MessageId:    env.NextMessageID(),
			Type:         fx.Type,
			Headers:      fx.table(),
			ContentType:  "application/json",
			DeliveryMode: amqp.Persistent,
			Body:         fx.Body,
		})
	}

	// What the golden examples mean: the charge each one must produce.
	want := []charge{{"o-1", 1500, "EUR"}, {"o-2", 4200, "GBP"}, {"o-3", 990, "EUR"}}
	charged := func() []charge { return charges(env) }
	env.Settle(func() bool { return len(charged()) == len(want) }, queue)
	got := charged()
	env.ExactlyOnce(billed, []string{"o-1", "o-2", "o-3"}, chargeIDs(got),
		"o-1 and o-3 are OrderPlaced v1 (testdata/orderplaced.v1*.json); o-2 is v2 (testdata/orderplaced.v2.json, header "+
			VersionHeader+": 2).")
	for i, w := range want {
		if got[i] != w {
			env.Fail(story.Lost, "order %s was charged %s instead of %s: the amount was lost reading OrderPlaced",
				w.OrderID, got[i], w)
		}
	}
}

// The committed CATALOG.md is what registry.go declares, and every golden example in it parses as what it claims.
func TestCatalogIsUpToDate(t *testing.T) {
	committed, err := os.ReadFile("CATALOG.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, CatalogPage()) {
		t.Fatal("CATALOG.md is not what registry.go declares: run `go generate ./labs/12-message-contracts/`")
	}
	for _, c := range Registry {
		for _, path := range c.Examples {
			fx := loadFixture(t, path)
			if fx.Type != c.Type || fx.version(t) != c.Version {
				t.Errorf("%s is a %s v%d, but the registry lists it under %s v%d", path, fx.Type, fx.version(t), c.Type, c.Version)
			}
		}
	}
}

// startMailer runs the Mailer as its own process and waits until it consumes its queue.
func startMailer(env *harness.Env, queue string, gateway *EmailGateway) {
	env.T.Helper()
	proc := env.Process("mailer")
	m := &Mailer{DB: proc.Pool(), Queue: queue, Gateway: gateway,
		Log: func(format string, args ...any) { env.Log(proc.Name, format, args...) }}
	conn := proc.MustDial()
	proc.Go(func(ctx context.Context) error { return m.Consume(ctx, conn) })
	waitConsuming(env, proc, queue)
}

// startBilling runs Billing as its own process and waits until it consumes its queue.
func startBilling(env *harness.Env, queue string) {
	env.T.Helper()
	proc := env.Process("billing")
	b := &Billing{DB: proc.Pool(), Queue: queue,
		Log: func(format string, args ...any) { env.Log(proc.Name, format, args...) }}
	conn := proc.MustDial()
	proc.Go(func(ctx context.Context) error { return b.Consume(ctx, conn) })
	waitConsuming(env, proc, queue)
}

func waitConsuming(env *harness.Env, proc *harness.Process, queue string) {
	env.T.Helper()
	ok := env.Eventually(func() bool {
		_, consumers, err := env.QueueDepth(queue)
		return err == nil && consumers > 0
	})
	if !ok {
		env.T.Fatalf("%s did not start consuming %q: %v", proc.Name, env.Short(queue), proc.Err())
	}
}

// confirmChannel opens a channel for proc in confirm mode.
func confirmChannel(env *harness.Env, proc *harness.Process) *amqp.Channel {
	env.T.Helper()
	ch, err := proc.MustDial().Channel()
	if err != nil {
		env.T.Fatalf("open channel: %v", err)
	}
	if err := ch.Confirm(false); err != nil {
		env.T.Fatalf("confirm mode: %v", err)
	}
	return ch
}

// fakePDF is n bytes that look like a PDF and do not compress.
func fakePDF(n int) []byte {
	pdf := make([]byte, n)
	copy(pdf, "%PDF-1.7\n")
	r := rand.New(rand.NewPCG(12, 2026))
	for i := len("%PDF-1.7\n"); i < n; i++ {
		pdf[i] = byte(r.Uint32())
	}
	return pdf
}

func orderIDs(emails []Email) []string {
	ids := make([]string, 0, len(emails))
	for _, e := range emails {
		ids = append(ids, e.OrderID)
	}
	return ids
}

// charge is one row of Billing's charges table.
type charge struct {
	OrderID  string
	Cents    int
	Currency string
}

func (c charge) String() string {
	return fmt.Sprintf("%d.%02d %s", c.Cents/100, c.Cents%100, c.Currency)
}

// charges reads Billing's charges, in order id order.
func charges(env *harness.Env) []charge {
	env.T.Helper()
	rows, err := env.DB().Query(env.Context(), `SELECT order_id, cents, currency FROM charges ORDER BY order_id`)
	if err != nil {
		env.T.Fatalf("read charges: %v", err)
	}
	defer rows.Close()
	var out []charge
	for rows.Next() {
		var c charge
		if err := rows.Scan(&c.OrderID, &c.Cents, &c.Currency); err != nil {
			env.T.Fatalf("read charges: %v", err)
		}
		out = append(out, c)
	}
	return out
}

func chargeIDs(cs []charge) []string {
	ids := make([]string, 0, len(cs))
	for _, c := range cs {
		ids = append(ids, c.OrderID)
	}
	return ids
}

// fixture is a golden message: its type, its headers and its body exactly as they travel.
type fixture struct {
	Type    string            `json:"type"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

func loadFixture(t *testing.T, path string) fixture {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var fx fixture
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return fx
}

func (fx fixture) table() amqp.Table {
	table := amqp.Table{}
	for k, v := range fx.Headers {
		table[k] = v
	}
	return table
}

// version is the contract version the fixture's headers declare (none: version 1).
func (fx fixture) version(t *testing.T) int {
	v, ok := fx.Headers[VersionHeader]
	if !ok {
		return 1
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("header %s: %v", VersionHeader, err)
	}
	return n
}
