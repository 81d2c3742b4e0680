// Do not edit: this test shows the failure.

package gather

import (
	"context"
	"fmt"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/harness"
	"msglabs/shared/story"
)

const (
	// stallLimit is how long the test lets a customer wait at checkout for a shipping quote before it calls the round
	// stalled. A good round ends long before, by its own deadline.
	stallLimit = time.Second
	// customerPatience is how long the first customer of a late-answer test waits before closing the page (the
	// round's context is cancelled).
	customerPatience = 400 * time.Millisecond
	// requestLifetime is how long after its round ended a request may still wait in the queue of a carrier that is
	// down: no longer than a customer would wait for its answer.
	requestLifetime = stallLimit
	// retryEvery and retryCopies make a carrier that re-sends its answer again and again, for longer than stallLimit.
	retryEvery  = 40 * time.Millisecond
	retryCopies = 100
)

// Two parcels: a light one and a heavy one. The carriers' prices (base + per started kilo) make each order's cheapest
// carrier different: o-1 is cheapest with bargainbox (4.50), o-2 with parcelline (22.00).
var (
	lightParcel = QuoteRequest{OrderID: "o-1", Grams: 800}
	heavyParcel = QuoteRequest{OrderID: "o-2", Grams: 19_500}
	// heavierBasket is o-1 again after the customer added to the basket: the same order, quoted a second time.
	heavierBasket = QuoteRequest{OrderID: "o-1", Grams: 19_500}
)

func fastpost() *Carrier   { return &Carrier{Name: "fastpost", BaseCents: 700, CentsPerKilo: 100} }
func parcelline() *Carrier { return &Carrier{Name: "parcelline", BaseCents: 600, CentsPerKilo: 80} }
func bargainbox() *Carrier { return &Carrier{Name: "bargainbox", BaseCents: 300, CentsPerKilo: 150} }

// Step 1: the round's end.

// One carrier's quoting service hangs: it takes the request and never answers. The customer must still be offered
// the best of the other quotes, promptly.
func TestCheckoutGetsAQuoteWhenACarrierIsSilent(t *testing.T) {
	env := harness.New(t)
	silent := bargainbox()
	silent.Silent = true
	co := openShop(env, fastpost(), parcelline(), silent)

	// The checkout handler passes its request context, and net/http puts no deadline on it.
	got, ok := co.await(co.ask(co.sales.Context(), lightParcel))
	if !ok {
		env.Fail(story.Stalled, "the customer at checkout for order %s was still waiting for a shipping quote after %v: "+
			"bargainbox took the request and never answered, and Sales is still waiting for it", lightParcel.OrderID, stallLimit)
	}
	co.judge(lightParcel, got, "fastpost", "parcelline")
}

// fastpost's integration delivers at least once: it sends its answer twice. bargainbox, the cheapest for this parcel,
// answers last (the test holds its answer until Sales has received the other three replies). Two answers from one
// carrier are one carrier: the round must still wait for bargainbox.
func TestACarrierThatAnswersTwiceCountsOnce(t *testing.T) {
	env := harness.New(t)
	twice := fastpost()
	twice.Copies = 2
	gate := make(chan struct{})
	last := bargainbox()
	last.Hold = gate
	co := openShop(env, twice, parcelline(), last)

	round := co.ask(co.sales.Context(), lightParcel)
	three := env.Eventually(func() bool {
		return env.Deliveries("fastpost-1") > 0 && env.Deliveries("fastpost-2") > 0 && env.Deliveries("parcelline-1") > 0
	})
	if !three {
		env.Fail(story.Stalled, "Sales never received fastpost's two answers and parcelline's answer for order %s", lightParcel.OrderID)
	}
	env.Log("test", "opens the gate: bargainbox answers now, after Sales has received three replies from two carriers")
	close(gate)

	got, ok := co.await(round)
	if !ok {
		env.Fail(story.Stalled, "the customer at checkout for order %s was still waiting for a shipping quote after %v, "+
			"although every carrier answered", lightParcel.OrderID, stallLimit)
	}
	co.judge(lightParcel, got, "fastpost", "parcelline", "bargainbox")
}

// parcelline's integration "retries until it is sure": it re-sends its answer every 40 ms, for seconds. bargainbox
// never answers. However many replies keep coming, the round must end by its own deadline. (This passes in the
// starter, which stops counting at three replies; it fails if the deadline starts again with every reply.)
func TestRetriedAnswersCannotKeepTheCustomerWaiting(t *testing.T) {
	env := harness.New(t)
	chatty := parcelline()
	chatty.Copies, chatty.Every = retryCopies, retryEvery
	silent := bargainbox()
	silent.Silent = true
	co := openShop(env, fastpost(), chatty, silent)

	got, ok := co.await(co.ask(co.sales.Context(), lightParcel))
	if !ok {
		env.Fail(story.Stalled, "the customer at checkout for order %s was still waiting for a shipping quote after %v: "+
			"bargainbox never answered, and parcelline re-sends its answer every %v: a wait that starts again with every "+
			"reply never ends while replies keep coming", lightParcel.OrderID, stallLimit, retryEvery)
	}
	co.judge(lightParcel, got, "fastpost", "parcelline")
}

// On a normal day every carrier answers, round after round, and each customer gets the cheapest quote for their order.
func TestCheapestQuoteWhenEveryCarrierAnswers(t *testing.T) {
	env := harness.New(t)
	co := openShop(env, fastpost(), parcelline(), bargainbox())
	for _, req := range []QuoteRequest{lightParcel, heavyParcel} {
		got, ok := co.await(co.ask(co.sales.Context(), req))
		if !ok {
			env.Fail(story.Stalled, "the customer at checkout for order %s was still waiting for a shipping quote after %v, "+
				"although every carrier answered", req.OrderID, stallLimit)
		}
		co.judge(req, got, "fastpost", "parcelline", "bargainbox")
	}
}

// Step 2: which round a reply belongs to.

// A round ends without one carrier's answer (the customer left); that answer arrives during the next customer's round.
// It must not be taken for an answer about the next order, and it must not come back again and again either.
func TestLateReplyIsNotTakenForTheNextOrder(t *testing.T) {
	lateAnswerDuring(harness.New(t), lightParcel, heavyParcel)
}

// The customer adds to the basket and checkout quotes the same order again, heavier now. bargainbox's answer to the
// first round (for the light parcel) arrives during the second: an answer about the same order, yet not about this
// question.
func TestTheSameOrderQuotedTwiceTakesOnlyTheNewAnswer(t *testing.T) {
	lateAnswerDuring(harness.New(t), lightParcel, heavierBasket)
}

// bargainbox is down for maintenance: its queue is there, nobody consumes it, and the request of a round piles up in
// it. Once that round is over nobody will ever read the answer, so the request must not outlive it: a carrier that
// comes back must not spend its time on questions nobody asks any more, ahead of the live ones.
func TestRequestsExpireWhileACarrierIsDown(t *testing.T) {
	env := harness.New(t)
	down := bargainbox()
	co := openShop(env, fastpost(), parcelline())
	co.addDown(down)

	got, ok := co.await(co.ask(co.sales.Context(), lightParcel))
	if !ok {
		env.Fail(story.Stalled, "the customer at checkout for order %s was still waiting for a shipping quote after %v: "+
			"bargainbox is down for maintenance, and Sales is still waiting for it", lightParcel.OrderID, stallLimit)
	}
	co.judge(lightParcel, got, "fastpost", "parcelline")

	expired := env.EventuallyWithin(requestLifetime, func() bool {
		n, _, err := env.QueueDepth(down.Queue)
		return err == nil && n == 0
	})
	if !expired {
		env.Fail(story.Stalled, "the QuoteRequest for order %s was still waiting in bargainbox's queue %v after its round "+
			"ended (bargainbox is down for maintenance): nobody will read its answer, yet bargainbox will work through every "+
			"such request before the live ones when it comes back; a request must not outlive its round",
			lightParcel.OrderID, requestLifetime)
	}

	env.Log("bargainbox", "is back from maintenance")
	startCarrier(env, down, co.exchange)
	got, ok = co.await(co.ask(co.sales.Context(), heavyParcel))
	if !ok {
		env.Fail(story.Stalled, "the customer at checkout for order %s was still waiting for a shipping quote after %v, "+
			"although every carrier answered", heavyParcel.OrderID, stallLimit)
	}
	co.judge(heavyParcel, got, "fastpost", "parcelline", "bargainbox")
	if down.Seen(lightParcel.OrderID) {
		env.Fail(story.Stalled, "bargainbox came back from maintenance and quoted order %s, whose round had ended long "+
			"before: a request must not outlive its round", lightParcel.OrderID)
	}
}

// lateAnswerDuring runs two rounds: in the first (for first) bargainbox holds its answer until the customer has left;
// the test releases it once the carriers have the second round's request (for second). The second customer must get
// a genuine quote for second, and the late answer must be settled once.
func lateAnswerDuring(env *harness.Env, first, second QuoteRequest) {
	env.T.Helper()
	gate, afterLate, roundOver := make(chan struct{}), make(chan struct{}), make(chan struct{})
	late := bargainbox()
	late.Hold = gate           // bargainbox's first answer waits for the gate,
	late.HoldLater = roundOver // and its second for the second round to end: only the late answer is its
	fast, parcel := fastpost(), parcelline()
	fast.HoldLater, parcel.HoldLater = afterLate, afterLate // their answers in the second round wait for the late one
	co := openShop(env, fast, parcel, late)

	ctx, cancel := context.WithTimeout(co.sales.Context(), customerPatience)
	defer cancel()
	if _, ok := co.await(co.ask(ctx, first)); !ok {
		env.Fail(story.Stalled, "the round for order %s was still running %v after it began, although its customer left after %v",
			first.OrderID, stallLimit, customerPatience)
	}

	asked := co.carriers["fastpost"].Requests(second.OrderID)
	round := co.ask(co.sales.Context(), second)
	requested := env.Eventually(func() bool {
		return co.carriers["fastpost"].Requests(second.OrderID) > asked && co.carriers["parcelline"].Requests(second.OrderID) > asked
	})
	if !requested {
		env.Fail(story.Stalled, "the carriers never received the request for order %s (%s)", second.OrderID, weight(second))
	}
	env.Log("test", "opens the gate: bargainbox's answer for %s (%s) goes out now, during the round for %s (%s)",
		first.OrderID, weight(first), second.OrderID, weight(second))
	close(gate)
	// The late answer reaches Sales (or the broker drops it) before anyone answers the second round, so the round
	// cannot have ended already: what Sales does with it is the test, not how fast the machine is.
	const lateReply = "bargainbox-1" // bargainbox's first reply: its answer about first
	env.Settle(func() bool { return env.Deliveries(lateReply) > 0 }, co.quoter.ReplyQueue)
	env.Log("test", "lets fastpost and parcelline answer the round for %s", second.OrderID)
	close(afterLate)

	got, ok := co.await(round)
	close(roundOver)
	if !ok {
		env.Fail(story.Stalled, "the customer at checkout for order %s was still waiting for a shipping quote after %v",
			second.OrderID, stallLimit)
	}
	co.judge(second, got, "fastpost", "parcelline")
	env.Settle(func() bool { return env.Deliveries(lateReply) > 1 }, co.quoter.ReplyQueue)
	if n := env.Deliveries(lateReply); n > 1 {
		env.Fail(story.Stalled, "bargainbox's late answer %s was delivered to Sales %d times and keeps coming back: it was "+
			"put back in the reply queue instead of acked (a reply of a round that has ended is of no use to anyone)", lateReply, n)
	}
}

// checkout is the test's shop: Sales' Quoter and the carriers, each running as its own process on the real broker.
type checkout struct {
	env      *harness.Env
	exchange string
	sales    *harness.Process
	quoter   *Quoter
	carriers map[string]*Carrier
	asked    []QuoteRequest
}

// answer is how one quote round ended.
type answer struct {
	quote Quote
	err   error
	took  time.Duration
}

// openShop starts the carriers (waiting until each consumes its queue) and Sales' Quoter, which asks them all.
func openShop(env *harness.Env, carriers ...*Carrier) *checkout {
	env.T.Helper()
	co := &checkout{env: env, exchange: env.Name("quote-requests"), carriers: map[string]*Carrier{}}
	var names []string
	for _, c := range carriers {
		startCarrier(env, c, co.exchange)
		co.carriers[c.Name] = c
		names = append(names, c.Name)
	}
	co.sales = env.Process("sales")
	co.quoter = &Quoter{
		Exchange:   co.exchange,
		ReplyQueue: env.Name("sales.quote-replies"),
		Carriers:   names,
		Log:        func(format string, args ...any) { env.Log("sales", format, args...) },
	}
	if err := co.quoter.Start(co.sales.Context(), co.sales.MustDial()); err != nil {
		env.T.Fatalf("start Sales' quoter: %v", err)
	}
	return co
}

// addDown adds a carrier that is down for maintenance: its queue is declared and bound, nobody consumes it, and Sales
// asks it like the others.
func (co *checkout) addDown(c *Carrier) {
	env := co.env
	env.T.Helper()
	c.Queue = env.Name("carrier." + c.Name)
	c.Log = func(format string, args ...any) { env.Log(c.Name, format, args...) }
	if err := c.Declare(dialCarrier(env, c), co.exchange); err != nil {
		env.T.Fatalf("%s: %v", c.Name, err)
	}
	env.Log(c.Name, "is down for maintenance: its queue is there, nobody consumes it")
	co.carriers[c.Name] = c
	co.quoter.Carriers = append(co.quoter.Carriers, c.Name)
}

// startCarrier runs c as its own process and waits until it consumes its request queue. A carrier is a third party:
// the shop cannot see its traffic, so its connection to the broker is not recorded; the timeline shows what the
// carrier says it does (what it received, what it answered, with which correlation id) and Sales' side of the wire.
func startCarrier(env *harness.Env, c *Carrier, exchange string) {
	env.T.Helper()
	proc := env.Process(c.Name)
	c.Queue = env.Name("carrier." + c.Name)
	c.Log = func(format string, args ...any) { env.Log(proc.Name, format, args...) }
	conn := dialCarrier(env, c)
	proc.Go(func(ctx context.Context) error { return c.Serve(ctx, conn, exchange) })
	consuming := env.Eventually(func() bool {
		_, consumers, err := env.QueueDepth(c.Queue)
		return err == nil && consumers > 0
	})
	if !consuming {
		env.T.Fatalf("carrier %s did not start consuming %q: %v", c.Name, env.Short(c.Queue), proc.Err())
	}
}

// dialCarrier connects a carrier straight to the broker (not through a recording proxy: its traffic is its own).
func dialCarrier(env *harness.Env, c *Carrier) *amqp.Connection {
	env.T.Helper()
	conn, err := amqp.Dial(env.AMQPURL())
	if err != nil {
		env.T.Fatalf("%s: connect to RabbitMQ: %v", c.Name, err)
	}
	env.T.Cleanup(func() { _ = conn.Close() })
	return conn
}

// ask starts a quote round for req in Sales' process, as the checkout handler would, with the handler's ctx.
func (co *checkout) ask(ctx context.Context, req QuoteRequest) <-chan answer {
	co.asked = append(co.asked, req)
	co.env.Log("customer", "opens checkout for %s (%s)", req.OrderID, weight(req))
	out := make(chan answer, 1)
	co.sales.Go(func(context.Context) error {
		start := time.Now()
		quote, err := co.quoter.Ask(ctx, req)
		out <- answer{quote: quote, err: err, took: time.Since(start)}
		return nil
	})
	return out
}

// await waits for a round to end, at most stallLimit, and tells the timeline how it ended.
func (co *checkout) await(round <-chan answer) (answer, bool) {
	select {
	case a := <-round:
		if a.err != nil {
			co.env.Log("customer", "gets no quote after %v: %v", a.took.Round(time.Millisecond), a.err)
		} else {
			co.env.Log("customer", "is offered %s after %v", a.quote, a.took.Round(time.Millisecond))
		}
		return a, true
	case <-time.After(stallLimit):
		co.env.Log("customer", "is still waiting for a quote after %v", stallLimit)
		return answer{}, false
	}
}

// judge checks the customer was offered the cheapest genuine quote for req among the carriers that answered.
func (co *checkout) judge(req QuoteRequest, got answer, answered ...string) {
	env := co.env
	env.T.Helper()
	if got.err != nil {
		env.Fail(story.Lost, "the customer at checkout for order %s got no shipping quote (%v), although %v answered: "+
			"offer the best quote so far", req.OrderID, got.err, answered)
	}
	c := co.carriers[got.quote.Carrier]
	if c == nil {
		env.Fail(story.Crosstalk, "order %s was offered %s, from a carrier that was never asked", req.OrderID, got.quote)
	}
	if price := c.Price(req); got.quote.Cents != price {
		env.Fail(story.Crosstalk, "order %s (%s) was offered shipping with %s for %s, but %s charges %s for it: %s",
			req.OrderID, weight(req), c.Name, Money(got.quote.Cents), c.Name, Money(price), co.whose(c, got.quote.Cents, req))
	}
	best := co.cheapest(req, answered)
	if got.quote.Cents > best.Cents {
		env.Fail(story.Lost, "order %s was offered %s, but %s's cheaper quote %s was lost: the customer pays too much",
			req.OrderID, got.quote, best.Carrier, Money(best.Cents))
	}
}

// whose explains where a wrong price came from: the answer to another question (another order, or the same order
// before its basket changed).
func (co *checkout) whose(c *Carrier, cents int, now QuoteRequest) string {
	for _, other := range co.asked {
		if other != now && c.Price(other) == cents {
			return fmt.Sprintf("%s was %s's answer for order %s (%s) in an earlier round, taken for an answer about %s (%s)",
				Money(cents), c.Name, other.OrderID, weight(other), now.OrderID, weight(now))
		}
	}
	return "no request of this test has that price"
}

// cheapest is the best quote req could get from the named carriers.
func (co *checkout) cheapest(req QuoteRequest, names []string) Quote {
	var best Quote
	for _, name := range names {
		price := co.carriers[name].Price(req)
		if best.Carrier == "" || price < best.Cents {
			best = Quote{Carrier: name, Cents: price}
		}
	}
	return best
}

func weight(req QuoteRequest) string { return fmt.Sprintf("%.1f kg", float64(req.Grams)/1000) }
