// Do not edit: this test shows the failure.

package competing

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/harness"
	"msglabs/shared/shop"
	"msglabs/shared/story"
)

var billed = story.Expect{Item: "order", From: "sent to Billing", Done: "billed"}

const (
	// billingPrefetch is the prefetch the tests give Billing: a charge is slow, so one at a time per instance.
	billingPrefetch = 1
	// minRetryGap is the least average spacing the test accepts between Sales' attempts at a refused message.
	minRetryGap = 5 * time.Millisecond
	// maxRetryGap is the longest Sales may wait between two attempts while Billing's queue is full: once the queue
	// has room, a Sales that waits longer leaves it idle that long.
	maxRetryGap = time.Second
	// outageRefusals is how many times the broker refuses Sales (Billing's queue full, Billing down) before the test
	// brings Billing back: an outage of several attempts in a row, not a blip.
	outageRefusals = 8
	// backlogAge is how long ago the orders of TestMetricsShowTheBacklog were sent (their sent-at stamp).
	backlogAge = 90 * time.Second
)

// Twelve orders wait for Billing. The first Billing instance gets stuck on the payment provider with its first order;
// ops start a second instance. The second instance must bill the other eleven while the first is stuck.
func TestSecondInstanceSharesTheBacklog(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	queue := env.Name("billing")
	orders := makeOrders(12)
	sendBills(env, queue, orders)

	gate, stuck := make(chan struct{}), make(chan string, 1)
	first := startBilling(env, queue, 1, stuckUntil(gate, stuck), nil)
	stuckOn := waitStuck(env, first, stuck)

	var second charges
	startBilling(env, queue, 2, second.charge, nil)
	others := len(orders) - 1
	secondDone := func() bool { return second.count() == others }
	settleBeside(env, secondDone, queue)
	if !secondDone() {
		env.FailWith(story.Stalled, []string{
			fmt.Sprintf("%d order(s) were still out, unacked, in the stuck instance's hands: the queue had nothing left to give billing#2.", env.Unacked()),
		}, "billing#2 sat idle while %s was stuck on order %s: it billed %d of the %d other orders waiting",
			first.Name, stuckOn, second.count(), others)
	}

	close(gate) // the payment provider answers again
	all := func() bool { return len(env.Strings(`SELECT order_id FROM charges`)) == len(orders) }
	env.Settle(all, queue)
	env.ExactlyOnce(billed, orderIDs(orders), env.Strings(`SELECT order_id FROM charges`))
}

// A campaign mail goes out while Billing is being redeployed: Sales sends a burst three times what Billing's queue may
// hold. The broker must refuse what does not fit, Sales must back off and retry, and once Billing is back every order
// is billed exactly once.
func TestBurstHoldsSalesBack(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	queue := env.Name("billing")
	orders := makeOrders(3 * MaxBacklog)

	sales := env.Process("sales")
	conn := sales.MustDial()
	result := make(chan error, 1)
	sales.Go(func(ctx context.Context) error {
		err := (&Sales{Queue: queue}).SendBills(ctx, conn, orders)
		result <- err
		return err
	})

	var sendErr error
	finished, peak := false, 0
	held := env.Eventually(func() bool {
		select {
		case sendErr = <-result:
			finished = true
			return true
		default:
		}
		depth, _, _ := env.QueueDepth(queue)
		peak = max(peak, depth)
		refused := env.Refusals(sales.Name)
		return depth >= MaxBacklog && (len(refused) >= outageRefusals || idleSince(refused) > maxRetryGap)
	})
	depth, _, _ := env.QueueDepth(queue)
	peak = max(peak, depth)
	switch {
	case finished && sendErr == nil && peak > MaxBacklog:
		env.Fail(story.Stalled, "Sales sent its whole burst of %d orders while Billing was down and nothing held it back: "+
			"%d orders piled up in billing's queue (the shop allows %d), and neither Sales nor anyone else was told",
			len(orders), peak, MaxBacklog)
	case !held:
		env.Fail(story.Stalled, "Sales neither finished its burst nor was held back at the full queue within %v (queue depth %d)",
			harness.Patience, depth)
	case !finished:
		checkHeldBack(env, sales.Name, peak)
		checkKeptTrying(env, sales.Name)
	}

	var billing charges
	startBilling(env, queue, 1, billing.charge, nil)
	if !finished && env.Eventually(func() bool {
		select {
		case sendErr = <-result:
			return true
		default:
			return false
		}
	}) {
		finished = true
	}
	if !finished {
		env.Fail(story.Stalled, "Billing is back and draining its queue, but Sales did not finish its burst within %v", harness.Patience)
	}
	all := func() bool { return len(env.Strings(`SELECT order_id FROM charges`)) == len(orders) }
	env.Settle(all, queue)
	var details []string
	if sendErr != nil {
		details = append(details, fmt.Sprintf("Sales stopped sending: %v", sendErr))
	}
	env.ExactlyOnce(billed, orderIDs(orders), env.Strings(`SELECT order_id FROM charges`), details...)
	if sendErr != nil {
		env.FailWith(story.Lost, details, "Sales gave up on its burst")
	}
}

// checkHeldBack judges Sales while the queue is full: the queue stays within its bound and Sales waits between its
// attempts instead of spinning against the broker.
func checkHeldBack(env *harness.Env, salesName string, peak int) {
	env.T.Helper()
	if peak > MaxBacklog {
		env.Fail(story.Stalled, "billing's queue held %d waiting orders; the shop allows %d", peak, MaxBacklog)
	}
	// How long Sales itself waited after each refusal, read off its own link: the broker's speed is not in it.
	if waits := retryWaits(env, salesName, 2); len(waits) == 2 && waits[0]+waits[1] < 2*minRetryGap {
		env.Fail(story.Stalled, "Sales sent a refused BillOrder again %v and %v after the broker refused it: it hammers "+
			"the full queue instead of backing off (the test wants at least %v between attempts on average)",
			waits[0].Round(10*time.Microsecond), waits[1].Round(10*time.Microsecond), minRetryGap)
	}
}

// retryWaits is, for the first n refusals of actor's publishes, how long actor waited before it published again, as
// its own broker link saw it (the refusal arriving, the next publish leaving).
func retryWaits(env *harness.Env, actor string, n int) []time.Duration {
	var waits []time.Duration
	refusedAt := time.Duration(-1)
	for _, e := range env.Timeline.Entries() {
		switch {
		case e.Actor != actor:
		case e.Kind == story.Refuse && refusedAt < 0:
			refusedAt = e.At
		case e.Kind == story.Publish && refusedAt >= 0:
			waits = append(waits, e.At-refusedAt)
			refusedAt = -1
			if len(waits) == n {
				return waits
			}
		}
	}
	return waits
}

// checkKeptTrying judges Sales while the queue is full: it tries again at least every maxRetryGap, so that once the
// queue has room the burst goes on at once.
func checkKeptTrying(env *harness.Env, salesName string) {
	env.T.Helper()
	refused := env.Refusals(salesName)
	if gap := longestGap(append(refused, time.Now())); gap > maxRetryGap {
		env.Fail(story.Stalled, "Sales let %v pass without trying again while billing's queue was full (%d refusals so "+
			"far): its wait keeps growing, so once the queue has room it sits idle that long (the test wants an attempt "+
			"at least every %v)", gap.Round(time.Millisecond), len(refused), maxRetryGap)
	}
}

// idleSince is how long ago the last refusal was (0 before the first).
func idleSince(refused []time.Time) time.Duration {
	if len(refused) == 0 {
		return 0
	}
	return time.Since(refused[len(refused)-1])
}

// longestGap is the longest time between two moments in a row.
func longestGap(at []time.Time) time.Duration {
	var longest time.Duration
	for i := 1; i < len(at); i++ {
		longest = max(longest, at[i].Sub(at[i-1]))
	}
	return longest
}

// The backlog of a stopped Billing must show on /metrics: how many orders wait and for how long. Once Billing is back,
// throughput and errors show too.
func TestMetricsShowTheBacklog(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	queue := env.Name("billing")
	reg := prometheus.NewRegistry()
	metrics, err := NewMetrics(reg, env.Process("monitor").MustDial(), queue)
	if err != nil {
		t.Fatalf("NewMetrics: %v", err)
	}
	server := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer server.Close()

	orders := makeOrders(5)
	sentAt := sendStamped(env, queue, orders, backlogAge) // sent while Billing was down: nobody consumes
	seen := scrape(env, server.URL)
	checkBacklogShown(env, seen, len(orders), time.Since(sentAt))

	fail := failOnce(shop.OrderID(2))
	startBilling(env, queue, 1, fail, metrics)
	all := func() bool { return len(env.Strings(`SELECT order_id FROM charges`)) == len(orders) }
	env.Settle(all, queue)
	env.ExactlyOnce(billed, orderIDs(orders), env.Strings(`SELECT order_id FROM charges`))
	want := map[string]float64{
		depthMetric: 0, ageMetric: 0,
		"billing_messages_processed_total": float64(len(orders)),
		"billing_messages_failed_total":    1,
	}
	env.Eventually(func() bool { seen = scrape(env, server.URL); return sameValues(seen, want) })
	if !sameValues(seen, want) {
		env.FailWith(story.Stalled, describe(seen, want),
			"after Billing drained its queue (5 orders, one failed once), /metrics did not say so")
	}
}

// Prometheus scrapes Billing's /metrics as soon as Billing's process is up, before anything has declared Billing's
// queue (a deploy in an unlucky order). Once the queue exists and orders wait in it, /metrics must show them.
func TestMetricsSurviveAScrapeBeforeTheQueueExists(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	queue := env.Name("billing")
	reg := prometheus.NewRegistry()
	if _, err := NewMetrics(reg, env.Process("monitor").MustDial(), queue); err != nil {
		t.Fatalf("NewMetrics: %v", err)
	}
	server := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer server.Close()

	_, status, err := scrapeStatus(server.URL) // whatever it answers: the queue is not there yet
	env.Log("test", "Prometheus scraped /metrics before billing's queue existed: %d %s (%v)", status, http.StatusText(status), err)
	orders := makeOrders(3)
	sentAt := sendStamped(env, queue, orders, backlogAge)
	seen, status, err := scrapeStatus(server.URL)
	if err != nil || status != http.StatusOK {
		env.Fail(story.Stalled, "after one scrape while billing's queue did not exist yet, /metrics never showed the "+
			"backlog again: GET /metrics answered %d %s (%v) with %d orders waiting", status, http.StatusText(status), err,
			len(orders))
	}
	checkBacklogShown(env, seen, len(orders), time.Since(sentAt))
}

const (
	depthMetric = "billing_queue_depth"
	ageMetric   = "billing_queue_oldest_message_age_seconds"
	// ageSlack is how far the shown age may be from the true one.
	ageSlack = time.Second
)

// checkBacklogShown judges the metrics seen while n orders have waited with nobody consuming, the oldest for waited
// (up to the scrape).
func checkBacklogShown(env *harness.Env, seen map[string]float64, n int, waited time.Duration) {
	env.T.Helper()
	depth, hasDepth := seen[depthMetric]
	age, hasAge := seen[ageMetric]
	if !hasDepth || !hasAge {
		env.Fail(story.Stalled, "%d orders waited %v in billing's queue with Billing down, and /metrics did not show it "+
			"(%s present: %v, %s present: %v): a stuck Billing looks exactly like a quiet day",
			n, waited.Round(time.Second), depthMetric, hasDepth, ageMetric, hasAge)
	}
	// The sent-at stamp has whole milliseconds, and the scrape took a moment: allow a second either way.
	minAge, maxAge := (waited - ageSlack).Seconds(), (waited + ageSlack).Seconds()
	if depth != float64(n) || age < minAge || age > maxAge {
		why := "the depth counts every ready message"
		if age < minAge || age > maxAge {
			why = fmt.Sprintf("the age is how long ago the oldest waiting message was stamped in its %q header", SentAtHeader)
		}
		env.Fail(story.Stalled, "%d orders waited in billing's queue, the oldest for %v, but /metrics said %s %v and "+
			"%s %v: %s", n, waited.Round(time.Second), depthMetric, depth, ageMetric, age, why)
	}
}

// startBilling runs Billing instance n (1 = "billing", 2 = "billing#2") on queue and waits until the broker counts n
// consumers on it.
func startBilling(env *harness.Env, queue string, n int, charge func(context.Context, shop.BillOrder) error, m *Metrics) *harness.Process {
	env.T.Helper()
	proc := env.Process("billing")
	conn := proc.MustDial()
	declare(env, conn, queue)
	billing := &Billing{DB: proc.Pool(), Charge: charge}
	consumer := &Consumer{Queue: queue, Prefetch: billingPrefetch, Handle: billing.Handle, Metrics: m}
	proc.Go(func(ctx context.Context) error { return consumer.Run(ctx, conn) })
	if !env.Eventually(func() bool { _, c, err := env.QueueDepth(queue); return err == nil && c >= n }) {
		env.T.Fatalf("%s did not start consuming %q: %v", proc.Name, env.Short(queue), proc.Err())
	}
	return proc
}

// declare declares Billing's queue on its own channel of conn, as Billing does when it starts.
func declare(env *harness.Env, conn *amqp.Connection, queue string) {
	env.T.Helper()
	ch, err := conn.Channel()
	if err != nil {
		env.T.Fatalf("open channel: %v", err)
	}
	defer ch.Close()
	if err := DeclareBillingQueue(ch, queue); err != nil {
		env.T.Fatal(err)
	}
}

// sendBills makes Sales send orders to Billing's queue and fails the test if it cannot.
func sendBills(env *harness.Env, queue string, orders []shop.BillOrder) {
	env.T.Helper()
	conn := env.Process("sales").MustDial()
	if err := (&Sales{Queue: queue}).SendBills(env.Context(), conn, orders); err != nil {
		env.T.Fatalf("Sales could not send %d orders to an empty queue: %v", len(orders), err)
	}
}

// sendStamped publishes one BillOrder per order to Billing's queue as Sales would (declared by Billing's rules), each
// stamped as sent ago, and returns the stamp.
func sendStamped(env *harness.Env, queue string, orders []shop.BillOrder, ago time.Duration) time.Time {
	env.T.Helper()
	declare(env, env.Process("ops").MustDial(), queue)
	sentAt := time.Now().Add(-ago)
	sales := env.Publisher("sales")
	for _, order := range orders {
		body, err := shop.Encode(order)
		if err != nil {
			env.T.Fatal(err)
		}
		sales.Raw("", queue, amqp.Publishing{MessageId: "bill-" + order.OrderID, Type: order.MessageType(),
			ContentType: shop.ContentType, DeliveryMode: amqp.Persistent, Body: body,
			Headers: amqp.Table{SentAtHeader: sentAt.UnixMilli()}})
	}
	env.Log("test", "%d BillOrders wait in billing's queue, sent %v ago (their %q stamp) while Billing was down",
		len(orders), ago, SentAtHeader)
	return sentAt
}

// stuckUntil is a payment provider that hangs until gate is closed; the first order it hangs on goes to stuck.
func stuckUntil(gate <-chan struct{}, stuck chan<- string) func(context.Context, shop.BillOrder) error {
	return func(ctx context.Context, order shop.BillOrder) error {
		select {
		case stuck <- order.OrderID:
		default:
		}
		select {
		case <-gate:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// waitStuck waits until proc's payment call hangs and returns the order it hangs on.
func waitStuck(env *harness.Env, proc *harness.Process, stuck <-chan string) string {
	env.T.Helper()
	select {
	case id := <-stuck:
		env.Log(proc.Name, "stuck: the payment provider does not answer for order %s (injected)", id)
		return id
	case <-time.After(harness.Patience):
		env.T.Fatalf("%s never started charging an order: %v", proc.Name, proc.Err())
		return ""
	}
}

// failOnce is a payment provider that fails the first attempt for order id and accepts everything else.
func failOnce(id string) func(context.Context, shop.BillOrder) error {
	var failed atomic.Bool
	return func(_ context.Context, order shop.BillOrder) error {
		if order.OrderID == id && failed.CompareAndSwap(false, true) {
			return fmt.Errorf("payment provider: card declined for %s (injected, once)", id)
		}
		return nil
	}
}

// charges is a payment provider that accepts everything and remembers what it charged.
type charges struct {
	mu  sync.Mutex
	ids []string
}

func (c *charges) charge(_ context.Context, order shop.BillOrder) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ids = append(c.ids, order.OrderID)
	return nil
}

func (c *charges) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.ids)
}

// settleBeside is env.Settle for a test in which a stuck instance legitimately holds deliveries: it returns when done
// holds, or when queue has no ready message and nothing has crossed the wire for harness.Quiet.
func settleBeside(env *harness.Env, done func() bool, queue string) {
	var quietSince time.Time
	last := -1
	env.Eventually(func() bool {
		if done() {
			return true
		}
		n := len(env.Timeline.Entries())
		depth, _, err := env.QueueDepth(queue)
		if err != nil || depth > 0 || n != last {
			last, quietSince = n, time.Now()
			return false
		}
		return time.Since(quietSince) >= harness.Quiet
	})
}

// scrape reads the metrics server's /metrics page into name → value (unlabelled series only); a page that cannot be
// read shows nothing.
func scrape(env *harness.Env, url string) map[string]float64 {
	env.T.Helper()
	seen, status, err := scrapeStatus(url)
	if err != nil || status != http.StatusOK {
		env.Log("test", "GET /metrics answered %d %s (%v)", status, http.StatusText(status), err)
	}
	return seen
}

// scrapeStatus reads the metrics server's /metrics page into name → value (unlabelled series only), with the HTTP
// status.
func scrapeStatus(url string) (map[string]float64, int, error) {
	client := &http.Client{Timeout: harness.Patience}
	resp, err := client.Get(url + "/metrics")
	if err != nil {
		return map[string]float64{}, 0, err
	}
	defer resp.Body.Close()
	seen := map[string]float64{}
	lines := bufio.NewScanner(resp.Body)
	for lines.Scan() {
		name, value, ok := strings.Cut(lines.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil {
			seen[name] = v
		}
	}
	if resp.StatusCode != http.StatusOK {
		return map[string]float64{}, resp.StatusCode, nil
	}
	return seen, resp.StatusCode, lines.Err()
}

func sameValues(seen, want map[string]float64) bool {
	for name, v := range want {
		if got, ok := seen[name]; !ok || got != v {
			return false
		}
	}
	return true
}

func describe(seen, want map[string]float64) []string {
	var out []string
	for _, name := range []string{depthMetric, ageMetric, "billing_messages_processed_total", "billing_messages_failed_total"} {
		got, ok := seen[name]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s: missing (want %v)", name, want[name]))
		case got != want[name]:
			out = append(out, fmt.Sprintf("%s: %v (want %v)", name, got, want[name]))
		}
	}
	return out
}

func makeOrders(n int) []shop.BillOrder {
	orders := make([]shop.BillOrder, n)
	for i := range orders {
		orders[i] = shop.BillOrder{OrderID: shop.OrderID(i + 1), Cents: 1000 + i}
	}
	return orders
}

func orderIDs(orders []shop.BillOrder) []string {
	ids := make([]string, len(orders))
	for i, o := range orders {
		ids[i] = o.OrderID
	}
	return ids
}
