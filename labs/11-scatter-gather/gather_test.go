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
	// customerPatience is how long the first customer in TestLateReplyIsNotTakenForTheNextOrder waits before closing
	// the page (the round's context is cancelled).
	customerPatience = 400 * time.Millisecond
)

// Two parcels: a light one and a heavy one. The carriers' prices (base + per started kilo) make each order's cheapest
// carrier different: o-1 is cheapest with bargainbox (4.50), o-2 with parcelline (22.00).
var (
	lightParcel = QuoteRequest{OrderID: "o-1", Grams: 800}
	heavyParcel = QuoteRequest{OrderID: "o-2", Grams: 19_500}
)

func fastpost() *Carrier   { return &Carrier{Name: "fastpost", BaseCents: 700, CentsPerKilo: 100} }
func parcelline() *Carrier { return &Carrier{Name: "parcelline", BaseCents: 600, CentsPerKilo: 80} }
func bargainbox() *Carrier { return &Carrier{Name: "bargainbox", BaseCents: 300, CentsPerKilo: 150} }

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

// A round ends without one carrier's answer (the customer left); that answer arrives during the next customer's round.
// It must not be taken for an answer about the next order.
func TestLateReplyIsNotTakenForTheNextOrder(t *testing.T) {
	env := harness.New(t)
	gate := make(chan struct{})
	late := bargainbox()
	late.Hold = gate // bargainbox's first answer waits for the gate
	co := openShop(env, fastpost(), parcelline(), late)

	ctx, cancel := context.WithTimeout(co.sales.Context(), customerPatience)
	defer cancel()
	if _, ok := co.await(co.ask(ctx, lightParcel)); !ok {
		env.Fail(story.Stalled, "the round for order %s was still running %v after it began, although its customer left after %v",
			lightParcel.OrderID, stallLimit, customerPatience)
	}

	second := co.ask(co.sales.Context(), heavyParcel)
	requested := env.Eventually(func() bool {
		return co.carriers["fastpost"].Seen(heavyParcel.OrderID) && co.carriers["parcelline"].Seen(heavyParcel.OrderID)
	})
	if !requested {
		env.Fail(story.Stalled, "the carriers never received the request for order %s", heavyParcel.OrderID)
	}
	env.Log("test", "opens the gate: bargainbox's answer for %s goes out now, during the round for %s",
		lightParcel.OrderID, heavyParcel.OrderID)
	close(gate)

	got, ok := co.await(second)
	if !ok {
		env.Fail(story.Stalled, "the customer at checkout for order %s was still waiting for a shipping quote after %v",
			heavyParcel.OrderID, stallLimit)
	}
	co.judge(heavyParcel, got, "fastpost", "parcelline")
}

// On a normal day every carrier answers, round after round, and each customer gets the cheapest quote for their order.
func TestCheapestQuoteWhenEveryCarrierAnswers(t *testing.T) {
	env := harness.New(t)
	co := openShop(env, fastpost(), parcelline(), bargainbox())
	for _, req := range []QuoteRequest{lightParcel, heavyParcel} {
		got, ok := co.await(co.ask(co.sales.Context(), req))
		if !ok {
			env.Fail(story.Stalled, "the customer at checkout for order %s was still waiting for a shipping quote after %v, "+
				"although every carrier answers", req.OrderID, stallLimit)
		}
		co.judge(req, got, "fastpost", "parcelline", "bargainbox")
	}
}

// checkout is the test's shop: Sales' Quoter and the carriers, each running as its own process on the real broker.
type checkout struct {
	env      *harness.Env
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

// openShop starts the carriers (waiting until each consumes its queue) and Sales' Quoter.
func openShop(env *harness.Env, carriers ...*Carrier) *checkout {
	env.T.Helper()
	exchange := env.Name("quote-requests")
	co := &checkout{env: env, carriers: map[string]*Carrier{}}
	var names []string
	for _, c := range carriers {
		startCarrier(env, c, exchange)
		co.carriers[c.Name] = c
		names = append(names, c.Name)
	}
	co.sales = env.Process("sales")
	co.quoter = &Quoter{
		Exchange:   exchange,
		ReplyQueue: env.Name("sales.quote-replies"),
		Carriers:   names,
		Log:        func(format string, args ...any) { env.Log("sales", format, args...) },
	}
	if err := co.quoter.Start(co.sales.Context(), co.sales.MustDial()); err != nil {
		env.T.Fatalf("start Sales' quoter: %v", err)
	}
	return co
}

// startCarrier runs c as its own process and waits until it consumes its request queue. A carrier is a third party:
// the shop cannot see its traffic, so its connection to the broker is not recorded; the timeline shows what the
// carrier says it does (what it received, what it answered, with which correlation id) and Sales' side of the wire.
func startCarrier(env *harness.Env, c *Carrier, exchange string) {
	env.T.Helper()
	proc := env.Process(c.Name)
	c.Queue = env.Name("carrier." + c.Name)
	c.Log = func(format string, args ...any) { env.Log(proc.Name, format, args...) }
	conn, err := amqp.Dial(env.AMQPURL())
	if err != nil {
		env.T.Fatalf("%s: connect to RabbitMQ: %v", c.Name, err)
	}
	env.T.Cleanup(func() { _ = conn.Close() })
	proc.Go(func(ctx context.Context) error { return c.Serve(ctx, conn, exchange) })
	consuming := env.Eventually(func() bool {
		_, consumers, err := env.QueueDepth(c.Queue)
		return err == nil && consumers > 0
	})
	if !consuming {
		env.T.Fatalf("carrier %s did not start consuming %q: %v", c.Name, env.Short(c.Queue), proc.Err())
	}
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

// whose explains where a wrong price came from: the answer to another order's request.
func (co *checkout) whose(c *Carrier, cents int, now QuoteRequest) string {
	for _, other := range co.asked {
		if other.OrderID != now.OrderID && c.Price(other) == cents {
			return fmt.Sprintf("%s was %s's answer for order %s (%s), taken for an answer about %s",
				Money(cents), c.Name, other.OrderID, weight(other), now.OrderID)
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
