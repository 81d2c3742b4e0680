// Do not edit: this test shows the failure.

package coupling

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/harness"
	"msglabs/shared/shop"
	"msglabs/shared/story"
)

var (
	stored   = story.Expect{Item: "order", From: "placed by customers", Done: "stored by Sales"}
	accepted = story.Expect{Item: "order", From: "accepted by ClientUI", Done: "stored by Sales"}
)

// answerLimit is how long a customer waits for ClientUI's answer before giving up on the shop. Handing an order to
// the broker takes milliseconds; a ClientUI that still waits for Sales takes as long as Sales does.
const answerLimit = time.Second

// channelMax is how many channels the broker allows on ClientUI's connection in TestOrdersFlowWhileSalesIsUp.
// RabbitMQ's default is 2047; a small limit makes a day's worth of traffic fit in a test.
const channelMax = 16

// Sales is down (being deployed) while a customer places an order. When Sales is back, the order must be there.
func TestOrderSurvivesSalesOutage(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	queue := env.Name("sales")

	// Sales is down: nothing answers at its address, and nothing consumes its queue.
	ui := &ClientUI{SalesURL: "http://" + deadAddress(t) + "/orders", Broker: env.Process("clientui").MustDial(), SalesQueue: queue}
	status := placeOrder(env, ui, shop.PlaceOrder{OrderID: "o-1", Customer: "ann", Cents: 4200})

	// Sales comes back and catches up on whatever is waiting for it.
	startSales(env, queue)
	env.Settle(func() bool { return len(storedOrders(env)) == 1 }, queue)

	x := stored
	if why := publishedBeforeDeclared(env, queue); why != "" {
		x = stored.Because("%s", why)
	}
	env.ExactlyOnce(x, []string{"o-1"}, storedOrders(env),
		"Sales was down when the customer clicked \"buy\"; ClientUI answered "+http.StatusText(status)+".")
	if status != http.StatusAccepted {
		env.Fail(story.Lost, "the order was kept, but the customer was told %d %s: answer 202 Accepted once the broker has the order",
			status, http.StatusText(status))
	}
	mustSurviveABrokerRestart(env)
}

// Sales is up but stuck: its web server takes the request and never answers (a long garbage collection, a locked
// table). The customer must still be answered at once: the order only has to reach Sales eventually.
func TestStuckSalesDoesNotHoldTheCustomer(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	queue := env.Name("sales")
	stuck := stuckSales(env)

	ui := &ClientUI{SalesURL: stuck.URL + "/orders", Broker: env.Process("clientui").MustDial(), SalesQueue: queue}
	a := placeOrders(env, ui, 1, []shop.PlaceOrder{{OrderID: "o-1", Customer: "ann", Cents: 4200}})["o-1"]
	status := a.code
	if calledStuckSales(env) {
		env.Fail(story.Stalled, "the customer placing o-1 waited %s while ClientUI called Sales' web server, which is stuck: "+
			"a shorter timeout only shortens the wait: while Sales is stuck, every customer still waits for it",
			a.took.Round(time.Millisecond))
	}

	startSales(env, queue) // Sales' queue consumer works fine: only its web server is stuck
	env.Settle(func() bool { return len(storedOrders(env)) == 1 }, queue)
	env.ExactlyOnce(stored, []string{"o-1"}, storedOrders(env),
		"Sales' web server was stuck when the customer clicked \"buy\"; ClientUI answered "+http.StatusText(status)+".")
}

// ClientUI's connection to RabbitMQ was just cut (a network blip) and nothing has reconnected it yet. A customer
// clicks "buy": ClientUI cannot hand the order over, so it must say so with an error page. A 202 Accepted here would
// be a promise nobody keeps. (This passes in the starter, which still calls Sales over HTTP.)
func TestCustomerIsToldWhenTheOrderCannotBeSent(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	queue := env.Name("sales")
	salesHTTP := httptest.NewServer(&Sales{DB: env.DB()})
	t.Cleanup(salesHTTP.Close)

	proc := env.Process("clientui")
	conn := proc.MustDial()
	ui := &ClientUI{SalesURL: salesHTTP.URL + "/orders", Broker: conn, SalesQueue: queue}
	proc.CutBroker()
	if !env.Eventually(conn.IsClosed) {
		t.Fatal("ClientUI's broker connection still looks open after the test cut it")
	}
	status := placeOrder(env, ui, shop.PlaceOrder{OrderID: "o-1", Customer: "ann", Cents: 4200})
	var promised []string
	if status < http.StatusMultipleChoices {
		promised = append(promised, "o-1")
	}

	startSales(env, queue)
	env.Settle(func() bool { return len(storedOrders(env)) == len(promised) }, queue)
	env.ExactlyOnce(accepted.Because("ClientUI's connection to the broker was down, and the customer was told %d %s",
		status, http.StatusText(status)), promised, storedOrders(env))
}

// A busy evening with Sales up: four customers at a time place eight orders each. Every order is taken and stored
// once, and ClientUI keeps taking orders all evening: whatever it opens on its broker connection per order, it must
// also close (the broker allows a connection only so many channels; this one channelMax).
func TestOrdersFlowWhileSalesIsUp(t *testing.T) {
	env := harness.New(t)
	env.Exec(Schema)
	queue := env.Name("sales")
	salesHTTP := httptest.NewServer(&Sales{DB: env.DB()})
	t.Cleanup(salesHTTP.Close)
	startSales(env, queue)

	ui := &ClientUI{SalesURL: salesHTTP.URL + "/orders", Broker: dialLimited(env, env.Process("clientui")), SalesQueue: queue}
	var orders []shop.PlaceOrder
	for i := 1; i <= 32; i++ {
		orders = append(orders, shop.PlaceOrder{OrderID: shop.OrderID(i), Customer: "bob", Cents: 1000 + i})
	}
	answers := placeOrders(env, ui, 4, orders)
	if refused := notAccepted(answers, orders); len(refused) > 0 {
		first := refused[0]
		env.Fail(story.Stalled, "ClientUI stopped taking orders: %d of %d customers got an error page with Sales and the broker up, "+
			"the first at %s (%d %s: %s)", len(refused), len(orders), first.OrderID, answers[first.OrderID].code,
			http.StatusText(answers[first.OrderID].code), answers[first.OrderID].body)
	}
	want := ids(orders)
	env.Settle(func() bool { return len(storedOrders(env)) == len(want) }, queue)
	env.ExactlyOnce(stored, want, storedOrders(env))
}

// mustSurviveABrokerRestart fails the test unless every PlaceOrder ClientUI published was persistent. The broker
// keeps a transient message in memory only, so a broker restart (a deploy, a crash) while Sales is down would lose
// the order, although it sits in a durable queue.
func mustSurviveABrokerRestart(env *harness.Env) {
	env.T.Helper()
	for _, e := range env.Timeline.Entries() {
		if e.Actor == "clientui" && e.Kind == story.Publish && strings.Contains(e.Text, "(transient") {
			env.Fail(story.Lost, "%s waited for Sales in the broker's memory only: ClientUI published it as a "+
				"transient message, so a broker restart before Sales came back would have lost it (%s)", orderIn(e.Text), e.Text)
		}
	}
}

// publishedBeforeDeclared says how an order was lost when ClientUI published it to Sales' queue before anyone had
// declared the queue: the default exchange silently drops a message for a queue that does not exist. "" otherwise.
func publishedBeforeDeclared(env *harness.Env, queue string) string {
	for _, e := range env.Timeline.Entries() {
		switch {
		case e.Kind == story.Declare && e.Peer == env.Short(queue):
			return ""
		case e.Kind == story.Publish && e.Actor == "clientui" && e.Peer == env.Short(queue):
			return fmt.Sprintf("ClientUI published %s to queue %q before anyone had declared it, and the broker silently "+
				"drops a message for a queue that does not exist", orderIn(e.Text), env.Short(queue))
		}
	}
	return ""
}

// orderIn names what a timeline line about a PlaceOrder concerns: "order o-1", the order id the harness read from its
// body ("published place-o-1 PlaceOrder o-1 → …", "published o-1 (no message id) → …"), else the message as labelled.
func orderIn(line string) string {
	label, _, _ := strings.Cut(strings.TrimPrefix(line, "published "), " → ")
	for _, word := range strings.Fields(label) {
		if strings.HasPrefix(word, "o-") {
			return "order " + word
		}
	}
	return "the message " + label
}

// startSales runs Sales' queue consumer as its own process and waits until it is consuming.
func startSales(env *harness.Env, queue string) {
	env.T.Helper()
	proc := env.Process("sales")
	sales := &Sales{DB: proc.Pool()}
	conn := proc.MustDial()
	proc.Go(func(ctx context.Context) error { return sales.Consume(ctx, conn, queue) })
	if !env.WaitConsuming(queue, 1) {
		env.T.Fatalf("Sales did not start consuming %q: %v", env.Short(queue), proc.Err())
	}
}

func storedOrders(env *harness.Env) []string {
	return env.Strings(`SELECT id FROM orders ORDER BY id`)
}

// answer is what ClientUI told one customer, and how long it took.
type answer struct {
	code int
	body string
	took time.Duration
}

// placeOrder is the customer clicking "buy": POST /orders to ClientUI. It returns the HTTP status.
func placeOrder(env *harness.Env, ui http.Handler, cmd shop.PlaceOrder) int {
	env.T.Helper()
	return placeOrders(env, ui, 1, []shop.PlaceOrder{cmd})[cmd.OrderID].code
}

// placeOrders is customers clicking "buy", customers of them at a time, each order a POST /orders to ClientUI. Every
// customer waits at most answerLimit for an answer: a slower one fails the test, STALLED.
func placeOrders(env *harness.Env, ui http.Handler, customers int, orders []shop.PlaceOrder) map[string]answer {
	env.T.Helper()
	todo := make(chan shop.PlaceOrder, len(orders))
	for _, o := range orders {
		todo <- o
	}
	close(todo)
	type result struct {
		id string
		answer
	}
	results := make(chan result, len(orders))
	for range customers {
		go func() {
			for cmd := range todo {
				results <- result{cmd.OrderID, post(ui, cmd)}
			}
		}()
	}
	answers := map[string]answer{}
	limit := time.NewTimer(answerLimit * time.Duration((len(orders)+customers-1)/customers))
	defer limit.Stop()
	for range orders {
		select {
		case r := <-results:
			answers[r.id] = r.answer
			env.Log("customer", "POST /orders %s → %d %s", r.id, r.code, http.StatusText(r.code))
			if r.took > answerLimit {
				env.Fail(story.Stalled, "the customer placing %s waited %s for an answer (at most %s): ClientUI kept the customer "+
					"waiting", r.id, r.took.Round(time.Millisecond), answerLimit)
			}
		case <-limit.C:
			waiting := notAnswered(answers, orders)
			env.Log("customer", "gave up waiting for an answer to POST /orders %s", strings.Join(waiting, ", "))
			env.Fail(story.Stalled, "the customer placing %s had no answer after %s: ClientUI kept the customer waiting%s",
				strings.Join(waiting, ", "), answerLimit, waitingFor(env))
		}
	}
	return answers
}

// post sends one POST /orders to ClientUI and returns its answer.
func post(ui http.Handler, cmd shop.PlaceOrder) answer {
	body, _ := json.Marshal(cmd)
	rec := httptest.NewRecorder()
	start := time.Now()
	harness.Labelled("clientui", ui).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/orders", bytes.NewReader(body)))
	return answer{code: rec.Code, body: strings.TrimSpace(rec.Body.String()), took: time.Since(start)}
}

func notAnswered(answers map[string]answer, orders []shop.PlaceOrder) []string {
	var out []string
	for _, o := range orders {
		if _, ok := answers[o.OrderID]; !ok {
			out = append(out, o.OrderID)
		}
	}
	return out
}

func notAccepted(answers map[string]answer, orders []shop.PlaceOrder) []shop.PlaceOrder {
	var out []shop.PlaceOrder
	for _, o := range orders {
		if answers[o.OrderID].code >= http.StatusMultipleChoices {
			out = append(out, o)
		}
	}
	return out
}

func ids(orders []shop.PlaceOrder) []string {
	var out []string
	for _, o := range orders {
		out = append(out, o.OrderID)
	}
	sort.Strings(out)
	return out
}

// waitingFor says whom ClientUI is waiting for: Sales' stuck web server, when the timeline shows it took a request,
// or else where ClientUI's handler hangs in the lab's own code.
func waitingFor(env *harness.Env) string {
	for _, e := range env.Timeline.Entries() {
		if e.Actor == "sales" && strings.HasPrefix(e.Text, stuckLine) {
			return " for Sales' web server, which took the request and never answers"
		}
	}
	return harness.StuckAt("clientui") // a handler that hangs in the lab's own code: where
}

// calledStuckSales reports whether Sales' stuck web server took a request before ClientUI answered the customer
// (the timeline line of the answer comes after it).
func calledStuckSales(env *harness.Env) bool {
	for _, e := range env.Timeline.Entries() {
		switch {
		case e.Actor == "customer" && strings.HasPrefix(e.Text, "POST /orders "):
			return false
		case e.Actor == "sales" && strings.HasPrefix(e.Text, stuckLine):
			return true
		}
	}
	return false
}

// stuckLine starts the timeline line of a request to Sales' stuck web server.
const stuckLine = "web server took "

// stuckSales is Sales' web server when Sales is up but stuck: it takes every request and answers none until the
// test ends (or the caller gives up).
func stuckSales(env *harness.Env) *httptest.Server {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		env.Log("sales", stuckLine+"%s %s and never answers (Sales is stuck)", r.Method, r.URL.Path)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	env.T.Cleanup(srv.Close)
	env.T.Cleanup(func() { close(release) }) // runs first: lets the stuck requests go before the server closes
	return srv
}

// dialLimited opens a connection for proc (through its proxy, so the timeline sees it) on which the broker allows
// channelMax channels.
func dialLimited(env *harness.Env, proc *harness.Process) *amqp.Connection {
	env.T.Helper()
	conn, err := amqp.DialConfig(proc.AMQPURL(), amqp.Config{ChannelMax: channelMax,
		Properties: amqp.Table{"connection_name": fmt.Sprintf("%s (channel_max %d)", proc.Name, channelMax)}})
	if err != nil {
		env.T.Fatalf("dial the broker as %s: %v", proc.Name, err)
	}
	env.T.Cleanup(func() { _ = conn.Close() })
	return conn
}

// deadAddress returns a loopback address where nothing listens: Sales is down.
func deadAddress(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
