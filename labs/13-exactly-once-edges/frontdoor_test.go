// Do not edit: this test shows the failure.

package edges

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"msglabs/shared/fault"
	"msglabs/shared/harness"
	"msglabs/shared/story"
)

// Step 1: the front door. Sales' API runs as two instances behind a load balancer, each an OS process of its own.

// The customer double-clicks "buy": two POST /orders with the same Idempotency-Key arrive together, one at each
// Sales instance. Both are held just before they write, then released at once. Later the browser retries once more
// after a timeout. One checkout must make one order, and every attempt must be told the same order number.
func TestDoubleClickMakesOneOrder(t *testing.T) {
	env := harness.New(t)
	env.Exec(SalesSchema)
	gate := fault.NewBarrier(2, holdLimit, func() {
		env.Log("test", "both attempts of checkout k-1 are about to write, one on each Sales instance: released together")
	})
	hold := func(string) { gate.Wait() }
	a, b := startSales(env, "sales-a", hold), startSales(env, "sales-b", hold)
	customer := newBrowser(env)
	req := OrderRequest{Customer: "ann", Cents: 4200}

	answers := make([]answer, 2)
	var wg sync.WaitGroup
	for i, api := range []*salesAPI{a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); answers[i] = customer.post(api, "k-1", req) }()
	}
	wg.Wait()
	if !gate.Full() {
		t.Fatalf("only %d of 2 requests called BeforeWrite: call o.BeforeWrite(key) in every request, just before its "+
			"transaction writes anything, so the test can hold both at that point", gate.Arrived())
	}
	answers = append(answers, customer.post(a, "k-1", req)) // the browser's retry after a timeout

	judgeCheckout(env, "k-1", answers,
		"the browser sent POST /orders with Idempotency-Key k-1 twice at once (a double click), to sales-a and to "+
			"sales-b; both attempts were held just before writing and released together")
}

// A checkout made by the customer is one order, and one only: a different checkout is a different order, even from
// the same customer with the same basket.
func TestEachCheckoutIsOneOrder(t *testing.T) {
	env := harness.New(t)
	env.Exec(SalesSchema)
	sales := startSales(env, "sales", nil)
	customer := newBrowser(env)
	req := OrderRequest{Customer: "bob", Cents: 1000}
	first := customer.post(sales, "k-1", req)
	second := customer.post(sales, "k-2", req)
	again := customer.post(sales, "k-1", req)

	env.ExactlyOnce(checkouts, []string{"k-1", "k-2"}, env.Strings(`SELECT idempotency_key FROM orders`),
		"bob checked out the same basket twice (k-1 and k-2), then the browser retried k-1")
	if first.OrderID == second.OrderID || again.OrderID != first.OrderID {
		t.Fatalf("answers: k-1 → %q, k-2 → %q, k-1 again → %q: want two different orders, and the retry of k-1 told "+
			"the first one", first.OrderID, second.OrderID, again.OrderID)
	}
}

// The customer's browser reuses the key of checkout k-1 for a different basket (a bug in the shop's front end: one
// key per tab instead of one per checkout). That request is not a retry, and must not be answered as one: Sales must
// refuse it, 422 Unprocessable Entity, and make no order for it. The browser's real retry of the first basket is then
// told the first order, as before. Last, a kiosk with the same bug sends another customer's basket, at the same price,
// under the same key: Sales may refuse it, or take it as a checkout of bob's own, but must not answer it as a retry.
func TestReusedKeyWithAnotherBasketIsRefused(t *testing.T) {
	env := harness.New(t)
	env.Exec(SalesSchema)
	a, b := startSales(env, "sales-a", nil), startSales(env, "sales-b", nil)
	customer := newBrowser(env)
	basket, other := OrderRequest{Customer: "ann", Cents: 4200}, OrderRequest{Customer: "ann", Cents: 99900}
	first := customer.post(a, "k-1", basket)
	reused := customer.post(b, "k-1", other)
	retry := customer.post(a, "k-1", basket)

	told := []string{"it was told: " + reused.String()}
	if made := env.Strings(`SELECT id FROM orders WHERE cents = $1`, other.Cents); len(made) > 0 {
		env.FailWith(story.Duplicate, told, "checkout k-1 was turned into %d orders: the request that reused its key for "+
			"another basket (999.00) made an order of its own; a reused key with a different request must be refused "+
			"(422 Unprocessable Entity) and make no order", 1+len(made))
	}
	if reused.OrderID != "" {
		env.FailWith(story.Crosstalk, told, "the request that reused checkout k-1's key for another basket (999.00) was "+
			"given the answer of the first basket (42.00), as if it were a retry: the customer believes the 999.00 "+
			"basket was ordered, but only the 42.00 one was; a reused key with a different request must be refused "+
			"(422 Unprocessable Entity)")
	}
	if reused.Status != http.StatusUnprocessableEntity {
		t.Fatalf("the request that reused checkout k-1's key for another basket got: %s; a key reused with a "+
			"different request is refused with 422 Unprocessable Entity (the IETF Idempotency-Key draft's answer)", reused)
	}
	judgeCheckout(env, "k-1", []answer{first, retry},
		"checkout k-1's key was reused for another basket (answered "+reused.String()+"), then the browser retried the "+
			"first basket")

	// Refused (the key is taken) or a checkout of bob's own (keys scoped per customer): either is an answer about
	// bob's basket. The first basket's order is not.
	kiosk := OrderRequest{Customer: "bob", Cents: basket.Cents}
	env.Log("test", "a kiosk sends bob's basket (42.00) with checkout k-1's key")
	theirs := customer.post(b, "k-1", kiosk)
	bobs := env.Int(`SELECT count(*) FROM orders WHERE id = $1 AND customer = $2`, theirs.OrderID, kiosk.Customer)
	if theirs.OrderID != "" && bobs == 0 {
		env.FailWith(story.Crosstalk, []string{"it was told: " + theirs.String()}, "bob's basket (42.00), sent with "+
			"checkout k-1's key, was given the answer of ann's basket (42.00), as if it were a retry: bob believes he "+
			"ordered, but no order was made for him; the same amount from another customer is a different request")
	}
}

// The front end's key bug again, at the worst moment: two requests with key k-1 but different baskets (42.00 and
// 999.00) arrive together, one at each Sales instance, and are held just before they write, then released at once.
// One of them gets the key and its order; the other is not a retry of it, and must be refused (422) without an order.
func TestTwoBasketsAtOnceUnderOneKey(t *testing.T) {
	env := harness.New(t)
	env.Exec(SalesSchema)
	gate := fault.NewBarrier(2, holdLimit, func() {
		env.Log("test", "both requests with key k-1 are about to write, one on each Sales instance: released together")
	})
	hold := func(string) { gate.Wait() }
	a, b := startSales(env, "sales-a", hold), startSales(env, "sales-b", hold)
	customer := newBrowser(env)
	baskets := []OrderRequest{{Customer: "ann", Cents: 4200}, {Customer: "ann", Cents: 99900}}

	answers := make([]answer, 2)
	var wg sync.WaitGroup
	for i, api := range []*salesAPI{a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); answers[i] = customer.post(api, "k-1", baskets[i]) }()
	}
	wg.Wait()
	if !gate.Full() {
		t.Fatalf("only %d of 2 requests called BeforeWrite: call o.BeforeWrite(key) in every request, just before its "+
			"transaction writes anything, so the test can hold both at that point", gate.Arrived())
	}

	told := []string{"the 42.00 basket was told: " + answers[0].String(),
		"the 999.00 basket was told: " + answers[1].String()}
	what := "two requests with Idempotency-Key k-1 and different baskets (42.00 to sales-a, 999.00 to sales-b) were " +
		"held just before writing and released together"
	env.ExactlyOnce(checkouts.Because("%s", what), []string{"k-1"},
		env.Strings(`SELECT idempotency_key FROM orders WHERE idempotency_key = $1`, "k-1"), told...)
	won := env.Int(`SELECT cents FROM orders WHERE idempotency_key = $1`, "k-1")
	for i, basket := range baskets {
		switch {
		case basket.Cents == won && answers[i].OrderID == "":
			env.FailWith(story.Lost, told, "the %s basket got checkout k-1's order, but its answer was lost: it was "+
				"told %s; %s", cents(basket.Cents), answers[i], what)
		case basket.Cents != won && answers[i].OrderID != "":
			env.FailWith(story.Crosstalk, told, "the %s basket was given the answer of the %s basket, which got key "+
				"k-1 first, as if it were a retry: the customer believes the %s basket was ordered, but only the %s "+
				"one was; a different request under a used key must be refused (422 Unprocessable Entity), also when "+
				"it arrives at the same moment", cents(basket.Cents), cents(won), cents(basket.Cents), cents(won))
		case basket.Cents != won && answers[i].Status != http.StatusUnprocessableEntity:
			t.Fatalf("the %s basket, which did not get key k-1, was told %s; want 422 Unprocessable Entity",
				cents(basket.Cents), answers[i])
		}
	}
}

// Sales dies while it writes checkout k-1's order: as it commits (the commit never reaches the database) and, in the
// second case, right after the commit. The browser gets no answer, or a 500 from an instance that lost its database,
// or a 201 it gives up waiting for, and retries at the other instance. One checkout must still be one order, and the
// retry must be told it.
func TestSalesDiesWhileCommittingAnOrder(t *testing.T) {
	for _, crash := range []armed{
		{"as it commits", fault.BeforeCommitTo("orders", 1), "as it committed the order (the commit never reached the database)"},
		{"right after the commit", fault.AfterCommitTo("orders", 1), "right after the order committed"},
	} {
		t.Run(crash.name, func(t *testing.T) {
			t.Parallel() // each crash in a world of its own
			env := harness.New(t)
			env.Exec(SalesSchema)
			a, b := startSales(env, "sales-a", nil), startSales(env, "sales-b", nil)
			a.proc.CrashOn(crash.at)
			customer := newBrowser(env)
			req := OrderRequest{Customer: "ann", Cents: 4200}
			dying := customer.post(a, "k-1", req)
			waitCrash(env, a.proc, "never committed an order for checkout k-1")
			retry := customer.post(b, "k-1", req)

			judgeCheckout(env, "k-1", []answer{retry}, fmt.Sprintf("sales-a died %s (the browser got: %s); the "+
				"browser retried checkout k-1 at sales-b", crash.what, dying))
		})
	}
}

// judgeCheckout fails the test unless checkout key made exactly one order, with one OrderPlaced in the outbox, and
// every attempt in answers was told that order: 201 Created with its number.
func judgeCheckout(env *harness.Env, key string, answers []answer, what string) {
	env.T.Helper()
	told := "the customer was told: " + describe(answers)
	env.ExactlyOnce(checkouts.Because("%s", what), []string{key},
		env.Strings(`SELECT idempotency_key FROM orders WHERE idempotency_key = $1`, key), told)
	orderID := env.Strings(`SELECT id FROM orders WHERE idempotency_key = $1`, key)[0]
	if n := env.Int(`SELECT count(*) FROM outbox WHERE body->>'order_id' = $1`, orderID); n != 1 {
		env.Fail(story.Duplicate, "OrderPlaced was put in the outbox %d times for the one order %s of checkout %s; %s",
			n, orderID, key, what)
	}
	for i, a := range answers {
		switch {
		case a.Err != nil:
			env.Fail(story.Lost, "the answer to attempt %d of checkout %s was lost: the browser never got one (%v) "+
				"although order %s exists; %s", i+1, key, a.Err, orderID, what)
		case a.OrderID != "" && a.OrderID != orderID:
			env.Fail(story.Duplicate, "the customer was told two order numbers for checkout %s (%s), but only order %s "+
				"exists: every attempt must be told the stored answer; %s", key, describe(answers), orderID, what)
		case a.Status != http.StatusCreated:
			env.Fail(story.Lost, "the answer to attempt %d of checkout %s was lost: it was told %s although order %s "+
				"exists; every attempt must be told the stored answer (201 Created, order %s); %s",
				i+1, key, a, orderID, orderID, what)
		}
	}
}

// answer is what the customer's browser got back: a status and an order number, or no answer at all.
type answer struct {
	Status  int
	OrderID string
	Err     error // the connection broke: no answer
}

func (a answer) String() string {
	switch {
	case a.Err != nil:
		return "no answer"
	case a.OrderID != "":
		return fmt.Sprintf("%d %s, order %q", a.Status, http.StatusText(a.Status), a.OrderID)
	default:
		return fmt.Sprintf("%d %s", a.Status, http.StatusText(a.Status))
	}
}

func describe(answers []answer) string {
	parts := make([]string, len(answers))
	for i, a := range answers {
		parts[i] = a.String()
	}
	return strings.Join(parts, "; ")
}

// salesAPI is one Sales instance, as the browser reaches it.
type salesAPI struct {
	proc *harness.Process
	url  string // its POST /orders
}

// startSales starts a Sales API instance as the process called name and waits until it listens. With hold set,
// every request the instance serves calls it with its key just before it writes, and waits until it returns.
func startSales(env *harness.Env, name string, hold func(key string)) *salesAPI {
	env.T.Helper()
	args := harness.Args{}
	if hold != nil {
		args["line-up"] = "yes"
	}
	proc := env.SpawnRole(name, "sales", args)
	addr := make(chan string, 1)
	proc.On("listening", func(a string) string { addr <- a; return "" })
	if hold != nil {
		proc.On("before-write", func(key string) string { hold(key); return "" })
	}
	select {
	case a := <-addr:
		return &salesAPI{proc: proc, url: "http://" + a + "/orders"}
	case <-proc.Exited():
		env.T.Fatalf("%s exited before it listened: %v", proc.Name, proc.Err())
	case <-time.After(harness.Patience):
		env.T.Fatalf("%s did not listen within %v: %v", proc.Name, harness.Patience, proc.Err())
	}
	return nil
}

// browser is the customer's browser: it sends POST /orders and says in the timeline what it was told.
type browser struct {
	env    *harness.Env
	client *http.Client
}

func newBrowser(env *harness.Env) *browser {
	// One connection per request, none kept: an instance that died leaves nothing behind for the next request.
	tr := &http.Transport{DisableKeepAlives: true}
	env.T.Cleanup(tr.CloseIdleConnections)
	return &browser{env: env, client: &http.Client{Transport: tr, Timeout: harness.Patience}}
}

// post sends POST /orders for checkout key to one Sales instance.
func (b *browser) post(api *salesAPI, key string, req OrderRequest) answer {
	b.env.T.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		b.env.T.Fatalf("encode %+v: %v", req, err)
	}
	r, err := http.NewRequestWithContext(b.env.Context(), http.MethodPost, api.url, bytes.NewReader(body))
	if err != nil {
		b.env.T.Fatalf("make POST /orders: %v", err)
	}
	r.Header.Set(IdempotencyHeader, key)
	a := b.send(r)
	if a.Err != nil {
		b.env.Log("customer", "POST /orders (Idempotency-Key %s, %s) to %s → no answer: %v", key, cents(req.Cents),
			api.proc.Name, a.Err)
		return a
	}
	b.env.Log("customer", "POST /orders (Idempotency-Key %s, %s) to %s → %s", key, cents(req.Cents), api.proc.Name, a)
	return a
}

func (b *browser) send(r *http.Request) answer {
	resp, err := b.client.Do(r)
	if err != nil {
		return answer{Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{Err: err}
	}
	a := answer{Status: resp.StatusCode}
	if resp.StatusCode == http.StatusCreated {
		var or OrderResponse
		_ = json.Unmarshal(data, &or)
		a.OrderID = or.OrderID
	}
	return a
}

// cents writes an amount as the customer reads it: "42.00".
func cents(c int) string { return fmt.Sprintf("%d.%02d", c/100, c%100) }
