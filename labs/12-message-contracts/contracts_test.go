// Do not edit: this test shows the failure.

package contracts

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/fault"
	"msglabs/shared/harness"
	"msglabs/shared/story"
)

// The Mailer runs in an OS process of its own (harness.Spawn), as it does in production: whatever Billing keeps in
// its memory, the Mailer cannot see.
func TestMain(m *testing.M) { harness.Main(m, harness.Roles{"mailer": runMailer}) }

// runMailer runs the Mailer in its own process, with a fake e-mail gateway that tells the test of every e-mail it
// sends; "fail-first" makes the gateway's first sends fail.
func runMailer(ctx context.Context, s *harness.Service) error {
	gateway := &EmailGateway{
		Log:    func(format string, args ...any) { s.Logf("e-mail gateway: "+format, args...) },
		Notify: func(e Email) { s.Call(callEmailed, e.OrderID+" "+e.SHA256) },
	}
	if n, err := strconv.Atoi(s.Arg("fail-first")); err == nil {
		gateway.FailNext(n)
	}
	m := &Mailer{DB: s.Pool(), Queue: s.Arg("queue"), Gateway: gateway, Log: s.Logf}
	return m.Consume(ctx, s.MustDial())
}

// callEmailed is the call the Mailer's process makes for every e-mail sent: "<order id> <sha256 of the PDF>".
const callEmailed = "e-mailed"

const (
	// invoiceSize is the size of the PDF Billing renders for the big order: twice what the invoices queue may hold.
	invoiceSize = 2 << 20
	// smallInvoice is an invoice that would fit in the queue as it is.
	smallInvoice = 100 << 10
	// parkedFor is how long an InvoiceIssued may wait before it is handled: the Mailer down over a long weekend, or
	// the message parked in lab 9's error queue until someone replays it. The stored PDF must outlive it.
	parkedFor = 7 * 24 * time.Hour
	// retention is operations' limit for transport attachments: the claim-check store is not the invoice archive.
	retention = 90 * 24 * time.Hour
)

var (
	emailed = story.Expect{Item: "invoice for order", From: "rendered by Billing", Done: "e-mailed to the customer"}
	billed  = story.Expect{Item: "order", From: "placed", Done: "charged by Billing"}
)

// Step 1: the claim check.

// A customer's order comes with a 2 MiB invoice. It must reach the customer's inbox, even though operations caps the
// invoices queue at 1 MiB, and even though the first e-mail attempt fails and the Mailer has to open it again.
func TestLargeInvoiceReachesTheCustomer(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	queue := env.Name("invoices")
	box := startMailer(env, queue, 1) // the first attempt fails: the Mailer gets the message again and opens it again

	inv := Invoice{OrderID: "o-1", PDF: fakePDF(invoiceSize, 1)}
	outcome := newInvoicing(env, queue).issue(inv)

	env.Settle(func() bool { return len(box.sent()) > 0 }, queue)
	sent := box.sent()
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

// The Mailer is down for a week (or the message is parked in lab 9's error queue until someone replays it), while the
// sweeper runs every day. The stored invoice must still be there when the Mailer finally opens it, and it must be gone
// once operations' retention for transport attachments has passed: the claim-check store is not an archive.
func TestAStoredInvoiceWaitsAWeekThenGoes(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	queue := env.Name("invoices")
	declareInvoices(env, queue)

	inv := Invoice{OrderID: "o-2", PDF: fakePDF(invoiceSize, 2)}
	outcome := newInvoicing(env, queue).issue(inv)
	later := time.Now().Add(parkedFor)
	swept := sweepAsOf(env, later)
	env.Log("test", "the Mailer was down for %s; the daily sweep as of %s removed %d attachment(s)", days(parkedFor),
		later.Format(time.DateOnly), swept)

	box := startMailer(env, queue, 0)
	env.Settle(func() bool { return len(box.sent()) > 0 }, queue)
	env.ExactlyOnce(emailed, []string{inv.OrderID}, orderIDs(box.sent()), outcome,
		fmt.Sprintf("The InvoiceIssued waited %s before the Mailer opened it; the daily sweep meanwhile removed %d "+
			"attachment(s): the stored PDF must outlive any wait of the message that carries its claim.", days(parkedFor), swept))

	end := time.Now().Add(retention)
	sweepAsOf(env, end)
	if left := env.Strings(`SELECT expires_at::text FROM attachments WHERE order_id = $1`, inv.OrderID); len(left) > 0 {
		env.Fail(story.Stalled, "the stored invoice for order %s was still in the attachments table %s later (expires_at %s): "+
			"nothing will ever remove it, so the table grows by 2 MiB per big invoice until the database's disk is full "+
			"and the shop stops; give it an expiry within %s", inv.OrderID, days(retention), left[0], days(retention))
	}
}

// Billing re-issues a corrected invoice for the same order before the Mailer has sent the first one. Each
// InvoiceIssued must open its own PDF: a claim names one stored attachment, not an order.
func TestACorrectedInvoiceOpensItsOwnPDF(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	queue := env.Name("invoices")
	declareInvoices(env, queue)

	first := Invoice{OrderID: "o-3", PDF: fakePDF(smallInvoice, 3)}
	corrected := Invoice{OrderID: "o-3", PDF: fakePDF(smallInvoice, 33)}
	billing := newInvoicing(env, queue)
	for _, inv := range []Invoice{first, corrected} {
		if outcome := billing.issue(inv); outcome != issuedOK {
			env.Fail(story.Lost, "Billing could not issue both invoices for order %s: %s", inv.OrderID, outcome)
		}
	}

	box := startMailer(env, queue, 0)
	env.Settle(func() bool { return len(box.sent()) >= 2 }, queue)
	if n := len(box.sent()); n < 2 {
		env.Fail(story.Lost, "the customer got %d e-mail(s) for order %s, but Billing issued two invoices (the first and "+
			"a corrected one): each must reach the customer", n, first.OrderID)
	}
	got := map[string]int{}
	for _, e := range box.sent() {
		got[e.SHA256]++
	}
	if got[Fingerprint(first.PDF)] != 1 || got[Fingerprint(corrected.PDF)] != 1 {
		env.Fail(story.Crosstalk, "the two InvoiceIssued for order %s did not each open their own PDF: the customer got %d "+
			"e-mail(s) with the first invoice and %d with the corrected one (want one of each); a claim must name one "+
			"stored invoice, not the order", first.OrderID, got[Fingerprint(first.PDF)], got[Fingerprint(corrected.PDF)])
	}
}

// The database refuses Billing's first write to the attachments table (an injected failure: a trigger, so no code
// path dodges it), and Billing's job runner tries the invoice again. The Mailer must never hear of an invoice that
// was never stored.
func TestAFailedStoreAnnouncesNothing(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	queue := env.Name("invoices")
	box := startMailer(env, queue, 0)

	inv := Invoice{OrderID: "o-4", PDF: fakePDF(smallInvoice, 4)}
	env.FailWrites("attachments", 1)
	billing := newInvoicing(env, queue)
	outcome := billing.issue(inv)
	if outcome != issuedOK {
		env.Log("billing", "the job runner tries the invoice for %s again", inv.OrderID)
		outcome = billing.issue(inv)
	}

	env.Settle(func() bool { return len(box.sent()) > 0 && env.Idle(queue) }, queue)
	for _, e := range env.Timeline.Entries() {
		if e.Kind == story.Reject && strings.HasPrefix(e.Actor, "mailer") {
			env.Fail(story.Ghost, "the Mailer got an InvoiceIssued for order %s whose invoice was not stored (the "+
				"message went out before the write, and the write failed or had not committed yet): it found nothing "+
				"under the claim and dropped the message; announce an invoice only once it is stored", inv.OrderID)
		}
	}
	env.ExactlyOnce(emailed, []string{inv.OrderID}, orderIDs(box.sent()), outcome)
}

// Billing dies right after it stored an invoice, as it hands InvoiceIssued to the broker (the message never arrives),
// and its job runner, restarted, issues the same invoice again. That second try must go through, and the customer
// must get the invoice, once: whatever the first try left behind must not stand in its way.
func TestAnInvoiceIssuedAgainAfterACrashGoesOut(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	queue := env.Name("invoices")
	box := startMailer(env, queue, 0)

	inv := Invoice{OrderID: "o-6", PDF: fakePDF(smallInvoice, 6)}
	first := newInvoicingAs(env, queue, "billing")
	first.proc.CrashOn(fault.BeforePublishOf(fault.Msg{ID: "invoice-" + inv.OrderID}))
	if outcome := first.issue(inv); outcome == issuedOK {
		env.Fail(story.Lost, "Billing's Issue returned nil for order %s although Billing died as it published "+
			"InvoiceIssued and the broker never got it", inv.OrderID)
	}
	env.Log("billing", "the job runner, restarted, issues the invoice for %s again", inv.OrderID)
	outcome := newInvoicingAs(env, queue, "billing#2").issue(inv)

	env.Settle(func() bool { return len(box.sent()) > 0 && env.Idle(queue) }, queue)
	env.ExactlyOnce(emailed.Because("Billing died as it published the invoice for %s, after storing it, and issued it "+
		"again once restarted", inv.OrderID), []string{inv.OrderID}, orderIDs(box.sent()), outcome)
}

// Step 2: schema evolution.

// Sales' new release publishes OrderPlaced v2 while v1 messages are still queued (and a v1 field was added along the
// way). Billing must charge every order, with the right amount, whatever version told it.
func TestBillingReadsEveryVersionOfOrderPlaced(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	queue := env.Name("billing")
	startBilling(env, queue)

	sales := env.Publisher("sales")
	for _, name := range []string{"orderplaced.v1.json", "orderplaced.v2.json", "orderplaced.v1-additive.json"} {
		loadFixture(t, filepath.Join("testdata", name)).publish(env, sales, queue)
	}

	// What the golden examples mean: the charge each one must produce.
	want := []charge{{"o-1", 1500, "EUR"}, {"o-2", 4200, "GBP"}, {"o-3", 990, "EUR"}}
	judgeCharges(env, queue, want, "o-1 and o-3 are OrderPlaced v1 (testdata/orderplaced.v1*.json); o-2 is v2 "+
		"(testdata/orderplaced.v2.json, header "+VersionHeader+": 2).")
}

// Not every sender writes the version header as a string: an AMQP header has types, and client libraries pick one
// (amqp091-go sends a Go int8 as 'b', an int16 as 's', an int as 'I'; Java and Python pick their own). The v2 golden
// example comes with its version in every integer type a sender may use; each one is version 2.
func TestVersionHeaderOfEveryIntegerType(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	queue := env.Name("billing")
	startBilling(env, queue)

	v2 := loadFixture(t, filepath.Join("testdata", "orderplaced.v2.json"))
	sales := env.Publisher("sales")
	var want []charge
	var kinds []string
	for _, h := range integerVersions {
		order := "o-2-" + h.kind
		fx := v2.withOrderID(t, order)
		fx.header = amqp.Table{VersionHeader: h.value}
		fx.publish(env, sales, queue)
		want = append(want, charge{order, 4200, "GBP"})
		kinds = append(kinds, h.kind)
	}
	judgeCharges(env, queue, want, "each is the v2 golden example, its version header sent as "+strings.Join(kinds, ", ")+
		" (the AMQP field types a sender's client may pick for the number 2).")
}

// The back office, another client of the same contract, sends OrderPlaced v1 with an explicit "message-version: 1".
// That is version 1, not "some header, so the new version".
func TestExplicitVersionOneReadsAsVersionOne(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	queue := env.Name("billing")
	startBilling(env, queue)

	loadFixture(t, filepath.Join("testdata", "orderplaced.v1-explicit.json")).publish(env, env.Publisher("back-office"), queue)
	judgeCharges(env, queue, []charge{{"o-5", 2750, "EUR"}},
		"o-5 is OrderPlaced v1 with an explicit header "+VersionHeader+": 1 (testdata/orderplaced.v1-explicit.json).")
}

// Sales ships v3 before Billing has learnt it: v3 keeps v2's shape, but total.cents became the net amount and the tax
// comes on top. A version Billing does not know must be refused, never guessed from the shape. (This passes in the
// starter, which fails to read v3 as v1; it fails when any header or any v2-like shape is taken for v2.)
func TestUnknownVersionIsRefused(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	queue := env.Name("billing")
	startBilling(env, queue)

	sales := env.Publisher("sales")
	loadFixture(t, filepath.Join("testdata", "future", "orderplaced.v3.json")).publish(env, sales, queue)
	loadFixture(t, filepath.Join("testdata", "orderplaced.v1.json")).publish(env, sales, queue) // after it, to know Billing got there
	env.Settle(func() bool { return len(charges(env)) > 0 && env.Idle(queue) }, queue)
	for _, c := range charges(env) {
		if c.OrderID == "o-4" {
			env.Fail(story.Lost, "order o-4 was charged %s from an OrderPlaced v3, a version Billing does not know: in v3 "+
				"total.cents is the net amount and 7.00 of tax comes on top, so the tax was never charged; an unknown version "+
				"must be refused, not guessed (lab 9 would park it until Billing learns v3)", c)
		}
	}
	env.ExactlyOnce(billed, []string{"o-1"}, chargeIDs(charges(env)), "o-1 is OrderPlaced v1, published after the v3 message.")
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

// Step 3 is yours: sales_test.go.

// tap is a queue of the test's own, bound to a producer's exchange: what the producer publishes there, the test reads
// here. With a tap a producer is tested in isolation: no consumer of the shop has to run. Its methods are for the
// test goroutine.
type tap struct {
	env        *harness.Env
	queue      string
	deliveries <-chan amqp.Delivery
}

// tapExchange binds a new queue of the test's own to exchange with routing key key (a topic pattern) and starts
// reading it, acking every message it hands out. The exchange must exist (the producer declares it).
func tapExchange(env *harness.Env, exchange, key string) *tap {
	env.T.Helper()
	proc := env.Process("tap")
	ch, err := proc.MustDial().Channel()
	if err != nil {
		env.T.Fatalf("open channel: %v", err)
	}
	queue := env.Name("tap")
	if _, err := ch.QueueDeclare(queue,
		false, // durable
		true,  // autoDelete
		false, // exclusive
		false, // noWait
		nil); err != nil {
		env.T.Fatalf("declare queue %q: %v", env.Short(queue), err)
	}
	if err := ch.QueueBind(queue, key, exchange,
		false, // noWait
		nil); err != nil {
		env.T.Fatalf("bind %q to %q: %v", env.Short(queue), env.Short(exchange), err)
	}
	deliveries, err := ch.ConsumeWithContext(proc.Context(), queue,
		"",    // consumer tag
		true,  // autoAck: the tap only looks
		false, // exclusive
		false, // noLocal
		false, // noWait
		nil)
	if err != nil {
		env.T.Fatalf("consume %q: %v", env.Short(queue), err)
	}
	return &tap{env: env, queue: queue, deliveries: deliveries}
}

// next returns the next message the tap received. It fails the test, STALLED, when none comes within
// harness.Patience; what names what the test waits for ("Sales' OrderPlaced for o-2").
func (tp *tap) next(what string) amqp.Delivery {
	tp.env.T.Helper()
	select {
	case d := <-tp.deliveries:
		return d
	case <-time.After(harness.Patience):
		tp.env.Fail(story.Stalled, "%s never reached the test's queue %q in %v", what, tp.env.Short(tp.queue), harness.Patience)
		return amqp.Delivery{}
	}
}

// integerVersions are the number 2 in every integer type an AMQP header can carry, with the field type's letter.
var integerVersions = []struct {
	kind  string
	value any
}{
	{"b", int8(2)}, {"B", uint8(2)}, {"s", int16(2)}, {"u", uint16(2)}, {"I", int32(2)}, {"i", uint32(2)}, {"l", int64(2)},
}

// mailbox is what the customers received: the e-mails the Mailer's process told the test about. It is safe for
// concurrent use.
type mailbox struct {
	mu     sync.Mutex
	emails []Email
}

func (b *mailbox) add(e Email) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.emails = append(b.emails, e)
}

func (b *mailbox) sent() []Email {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Email(nil), b.emails...)
}

// startMailer spawns the Mailer (its own OS process) on queue, its gateway failing the first failFirst sends, and
// waits until it consumes. The returned mailbox fills as the Mailer e-mails.
func startMailer(env *harness.Env, queue string, failFirst int) *mailbox {
	env.T.Helper()
	box := &mailbox{}
	spawnMailer(env, queue, failFirst, box)
	if !env.WaitConsuming(queue, 1) {
		env.T.Fatalf("the Mailer did not start consuming %q", env.Short(queue))
	}
	return box
}

// spawnMailer spawns a Mailer process whose e-mails go to box, and returns at once.
func spawnMailer(env *harness.Env, queue string, failFirst int, box *mailbox) *harness.Process {
	env.T.Helper()
	proc := env.Spawn("mailer", harness.Args{"queue": queue, "fail-first": strconv.Itoa(failFirst)})
	proc.On(callEmailed, func(arg string) string {
		order, sha, _ := strings.Cut(arg, " ")
		box.add(Email{OrderID: order, SHA256: sha})
		return ""
	})
	return proc
}

// declareInvoices declares the invoices queue with operations' limits, as it is before any Mailer runs.
func declareInvoices(env *harness.Env, queue string) {
	env.T.Helper()
	ch := confirmChannel(env, env.Process("operations"))
	if err := DeclareInvoiceQueue(ch, queue); err != nil {
		env.T.Fatal(err)
	}
}

// invoicing is Billing's invoicing job, as the tests run it: one Billing process with a confirm channel.
type invoicing struct {
	env      *harness.Env
	proc     *harness.Process
	invoicer *Invoicer
	ch       *amqp.Channel
}

// newInvoicing starts Billing's invoicing job for the invoices queue.
func newInvoicing(env *harness.Env, queue string) *invoicing {
	env.T.Helper()
	return newInvoicingAs(env, queue, "billing")
}

// newInvoicingAs starts Billing's invoicing job in the process called name (a restarted Billing: "billing#2").
func newInvoicingAs(env *harness.Env, queue, name string) *invoicing {
	env.T.Helper()
	billing := env.Process(name)
	return &invoicing{env: env, proc: billing, invoicer: &Invoicer{DB: billing.Pool(), Queue: queue},
		ch: confirmChannel(env, billing)}
}

// issue has Billing issue inv and returns a sentence on how it went.
func (j *invoicing) issue(inv Invoice) string {
	env := j.env
	env.T.Helper()
	env.Log("billing", "rendered the invoice for %s: a %s PDF", inv.OrderID, size(len(inv.PDF)))
	err := j.invoicer.Issue(env.Context(), j.ch, inv)
	if err == nil {
		return issuedOK
	}
	env.Log("billing", "Issue returned: %v", err)
	return "Billing's Issue returned: " + err.Error() + "; the invoices queue takes at most " +
		size(InvoiceQueueMaxBytes) + " of messages."
}

// issuedOK is what issue says when the broker took the invoice.
const issuedOK = "Billing's Issue returned nil: the broker took the message."

// sweepAsOf runs the daily sweep as it will run at the time at, and returns how many attachments it removed.
func sweepAsOf(env *harness.Env, at time.Time) int64 {
	env.T.Helper()
	n, err := SweepAttachmentsAsOf(env.Context(), env.DB(), at)
	if err != nil {
		env.T.Fatal(err)
	}
	return n
}

// startBilling runs Billing as its own process and waits until it consumes its queue.
func startBilling(env *harness.Env, queue string) {
	env.T.Helper()
	proc := env.Process("billing")
	b := &Billing{DB: proc.Pool(), Queue: queue,
		Log: func(format string, args ...any) { env.Log(proc.Name, format, args...) }}
	conn := proc.MustDial()
	proc.Go(func(ctx context.Context) error { return b.Consume(ctx, conn) })
	if !env.WaitConsuming(queue, 1) {
		env.T.Fatalf("%s did not start consuming %q: %v", proc.Name, env.Short(queue), proc.Err())
	}
}

// judgeCharges waits until Billing has charged what it can and fails unless it charged exactly want (in order id
// order), each with its amount and currency.
func judgeCharges(env *harness.Env, queue string, want []charge, detail string) {
	env.T.Helper()
	env.Settle(func() bool { return len(charges(env)) == len(want) }, queue)
	got := charges(env)
	ids := make([]string, len(want))
	for i, w := range want {
		ids[i] = w.OrderID
	}
	env.ExactlyOnce(billed, ids, chargeIDs(got), detail)
	byID := map[string]charge{}
	for _, c := range got {
		byID[c.OrderID] = c
	}
	for _, w := range want {
		if byID[w.OrderID] != w {
			env.Fail(story.Lost, "order %s was charged %s instead of %s: the amount was lost reading OrderPlaced",
				w.OrderID, byID[w.OrderID], w)
		}
	}
}

// days formats a whole number of days: "7 days".
func days(d time.Duration) string { return fmt.Sprintf("%d days", int(d.Hours()/24)) }

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

// fakePDF is n bytes that look like a PDF and do not compress; seed makes two invoices differ.
func fakePDF(n int, seed uint64) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	pdf := make([]byte, n)
	_, _ = rand.NewChaCha8(key).Read(pdf) // never fails
	copy(pdf, "%PDF-1.7\n")
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
	// header, when set, replaces Headers with typed values (a version header sent as a number).
	header amqp.Table
}

func loadFixture(t testing.TB, path string) fixture {
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
	if fx.header != nil {
		return fx.header
	}
	table := amqp.Table{}
	for k, v := range fx.Headers {
		table[k] = v
	}
	return table
}

// publish sends the fixture to queue as its sender would: byte for byte, persistent, with a fresh message id.
func (fx fixture) publish(env *harness.Env, sender *harness.Publisher, queue string) {
	env.T.Helper()
	sender.Raw("", queue, amqp.Publishing{
		MessageId:    env.NextMessageID(),
		Type:         fx.Type,
		Headers:      fx.table(),
		ContentType:  "application/json",
		DeliveryMode: amqp.Persistent,
		Body:         fx.Body,
	})
}

// withOrderID returns the fixture for another order: the same body, its order_id replaced.
func (fx fixture) withOrderID(t testing.TB, orderID string) fixture {
	t.Helper()
	var body map[string]json.RawMessage
	if err := json.Unmarshal(fx.Body, &body); err != nil {
		t.Fatal(err)
	}
	body["order_id"], _ = json.Marshal(orderID)
	out, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	fx.Body = out
	return fx
}

// version is the contract version the fixture's headers declare (none: version 1).
func (fx fixture) version(t testing.TB) int {
	t.Helper()
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
