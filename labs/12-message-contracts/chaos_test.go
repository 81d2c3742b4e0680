// Do not edit: this test shows the failure.

package contracts

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/chaos"
	"msglabs/shared/fault"
	"msglabs/shared/harness"
	"msglabs/shared/story"
)

// chaosSeed is the lab's default chaos seed: `checker chaos 12` runs it, and run i uses chaosSeed+i.
const chaosSeed = 1200

// chaosSlowest is the most latency the chaos stage adds to the Mailer's broker link.
const chaosSlowest = 80 * time.Millisecond

// issueTries is how often Billing's invoicing job tries an invoice before it gives up.
const issueTries = 4

// The chaos stage, against both contracts at once. Invoices: two to four, small and large, one sometimes corrected
// and issued again; the database refusing Billing's first writes to the attachments table (its job runner tries
// again); the e-mail gateway failing the first sends; the Mailer dying right after it receives an invoice (a new
// process opens it); its broker link slowed. Every invoice must reach the customer once with its own PDF, no message
// may announce an invoice that is not stored, and nothing may stay stored past operations' retention. Orders: every
// version of OrderPlaced in a shuffled order, the version header in a random type, a v3 among them: every known
// version charged once with its amount, the unknown one refused.
func TestChaos(t *testing.T) {
	chaos.Run(t, chaos.Battery{Seed: chaosSeed, Runs: 6, Scenario: func(env *harness.Env, s *chaos.Schedule) {
		env.Exec(Schema)
		chaosInvoices(env, s)
		chaosOrders(env, s)
	}})
}

// chaosInvoices runs the claim-check half of a chaos run.
func chaosInvoices(env *harness.Env, s *chaos.Schedule) {
	queue := env.Name("invoices")
	var invoices []Invoice
	for i := 1; i <= s.Between(2, 4, "invoices"); i++ {
		n := smallInvoice
		if s.Chance(50, "o-%d's invoice is large (2 MiB)", i) {
			n = invoiceSize
		}
		invoices = append(invoices, Invoice{OrderID: fmt.Sprintf("o-%d", i), PDF: fakePDF(n, uint64(i))})
	}
	if s.Chance(40, "o-1's invoice is corrected and issued again") {
		invoices = append(invoices, Invoice{OrderID: "o-1", PDF: fakePDF(smallInvoice, 100)})
	}
	failFirst := s.Between(0, 2, "failed e-mail sends")
	box := &mailbox{}
	mailer := spawnMailer(env, queue, failFirst, box)
	if !env.WaitConsuming(queue, 1) {
		env.T.Fatalf("the Mailer did not start consuming %q", env.Short(queue))
	}
	crash := s.Chance(50, "the Mailer dies right after it receives the first invoice")
	if crash {
		mailer.CrashOn(fault.AfterDeliveryOf("invoice-"+invoices[0].OrderID, 1))
	}
	s.Slow(mailer, chaosSlowest)
	if s.Chance(50, "the database refuses Billing's first writes to attachments") {
		s.FailWrites(env, "attachments", 2)
	}

	billing := newInvoicing(env, queue)
	for _, inv := range invoices {
		issueWithRetries(env, billing, inv)
	}
	if crash {
		select {
		case <-mailer.Crashed():
		case <-time.After(harness.Patience):
			env.T.Fatalf("the Mailer never received the first invoice: %v", mailer.Err())
		}
		env.WaitConsumers(queue, 0)
		spawnMailer(env, queue, 0, box)
	}
	if _, err := SweepAttachments(env.Context(), env.DB()); err != nil { // the daily sweep, meanwhile
		env.Log("sweeper", "the daily sweep failed: %v", err)
	}

	env.Settle(func() bool {
		return len(box.sent()) >= len(invoices) && env.Idle(queue)
	}, queue)
	judgeInvoices(env, invoices, box.sent())
	sweepAsOf(env, time.Now().Add(retention))
	if n := env.Int(`SELECT count(*) FROM attachments`); n > 0 {
		env.Fail(story.Stalled, "%d stored invoice(s) were still in the attachments table %s later: nothing will ever "+
			"remove them; give each an expiry within %s", n, days(retention), days(retention))
	}
}

// issueWithRetries issues inv as Billing's job runner does: a failed attempt is tried again, up to issueTries times.
func issueWithRetries(env *harness.Env, billing *invoicing, inv Invoice) {
	env.T.Helper()
	var outcome string
	for try := 1; try <= issueTries; try++ {
		if outcome = billing.issue(inv); outcome == issuedOK {
			return
		}
	}
	env.Fail(story.Lost, "Billing could not issue the invoice for order %s in %d tries: %s", inv.OrderID, issueTries, outcome)
}

// judgeInvoices fails the run unless the Mailer announced nothing that was not stored, and every invoice reached the
// customer once with its own PDF.
func judgeInvoices(env *harness.Env, invoices []Invoice, sent []Email) {
	env.T.Helper()
	for _, e := range env.Timeline.Entries() {
		if e.Kind == story.Reject && strings.HasPrefix(e.Actor, "mailer") {
			env.Fail(story.Ghost, "the Mailer got an InvoiceIssued whose invoice was not stored: it found nothing under "+
				"the claim and dropped the message; announce an invoice only once it is stored")
		}
	}
	got := map[string]int{}
	for _, e := range sent {
		got[e.OrderID+" "+e.SHA256]++
	}
	for _, inv := range invoices {
		switch n := got[inv.OrderID+" "+Fingerprint(inv.PDF)]; {
		case n == 0:
			env.Fail(story.Lost, "an invoice for order %s (%s) never reached the customer with its own PDF (%d e-mails "+
				"for %d invoices in all)", inv.OrderID, size(len(inv.PDF)), len(sent), len(invoices))
		case n > 1:
			env.Fail(story.Duplicate, "an invoice for order %s reached the customer %d times", inv.OrderID, n)
		}
	}
	if len(sent) > len(invoices) {
		env.Fail(story.Crosstalk, "the customers got %d e-mails for %d invoices: some message opened a PDF that is not "+
			"its own", len(sent), len(invoices))
	}
}

// chaosOrders runs the schema-evolution half of a chaos run.
func chaosOrders(env *harness.Env, s *chaos.Schedule) {
	queue := env.Name("billing")
	startBilling(env, queue)
	type golden struct {
		file string
		want *charge // nil: must be refused
	}
	all := []golden{
		{"orderplaced.v1.json", &charge{"o-1", 1500, "EUR"}},
		{"orderplaced.v2.json", &charge{"o-2", 4200, "GBP"}},
		{"orderplaced.v1-additive.json", &charge{"o-3", 990, "EUR"}},
		{"orderplaced.v1-explicit.json", &charge{"o-5", 2750, "EUR"}},
		{filepath.Join("future", "orderplaced.v3.json"), nil},
	}
	labels := make([]string, len(all))
	for i, g := range all {
		labels[i] = g.file
	}
	sales := env.Publisher("sales")
	var want []charge
	for _, i := range s.Order("OrderPlaced examples", labels) {
		fx := loadFixture(env.T, filepath.Join("testdata", all[i].file))
		if v, ok := fx.Headers[VersionHeader]; ok && v != "3" {
			h := integerVersions[s.Intn(len(integerVersions))]
			if s.Chance(50, "%s's version header is sent as an AMQP '%s'", all[i].file, h.kind) {
				fx.header = amqp.Table{VersionHeader: retype(h.value, v)}
			}
		}
		fx.publish(env, sales, queue)
		if all[i].want != nil {
			want = append(want, *all[i].want)
		}
	}
	env.Settle(func() bool { return len(charges(env)) >= len(want) && env.Idle(queue) }, queue)
	for _, c := range charges(env) {
		if c.OrderID == "o-4" {
			env.Fail(story.Lost, "order o-4 was charged %s from an OrderPlaced v3, a version Billing does not know: an "+
				"unknown version must be refused, not guessed", c)
		}
	}
	slices.SortFunc(want, func(a, b charge) int { return strings.Compare(a.OrderID, b.OrderID) })
	judgeCharges(env, queue, want, "the examples went out in a shuffled order, some with their version header as a number.")
}

// retype returns the version v (a string of digits) in the integer type of like.
func retype(like any, v string) any {
	var n int
	fmt.Sscan(v, &n)
	switch like.(type) {
	case int8:
		return int8(n)
	case uint8:
		return uint8(n)
	case int16:
		return int16(n)
	case uint16:
		return uint16(n)
	case int32:
		return int32(n)
	case uint32:
		return uint32(n)
	}
	return int64(n)
}
