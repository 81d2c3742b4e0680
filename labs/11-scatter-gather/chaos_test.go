// Do not edit: this test shows the failure.

package gather

import (
	"fmt"
	"testing"
	"time"

	"msglabs/shared/chaos"
	"msglabs/shared/harness"
	"msglabs/shared/story"
)

// chaosSeed is the lab's default chaos seed: `checker chaos 11` runs it, and run i uses chaosSeed+i.
const chaosSeed = 1100

// chaosSlowest is the most latency the chaos stage adds to Sales' broker link: replies still arrive well within any
// sensible deadline.
const chaosSlowest = 60 * time.Millisecond

// behaviour is what a carrier does in a chaos run.
type behaviour string

const (
	prompt behaviour = "answers at once"
	twice  behaviour = "answers every request twice"
	chatty behaviour = "re-sends every answer for a while"
	late   behaviour = "holds its first answer until the next round has begun"
	silent behaviour = "never answers"
	down   behaviour = "is down for maintenance until the last round"
)

// Every behaviour a carrier may have; fastpost (the first carrier) only has the ones that answer, so every round has
// at least one answer to offer.
var (
	answering = []behaviour{prompt, twice, chatty}
	anything  = []behaviour{prompt, twice, chatty, late, silent, down}
)

// chaosParcels are the parcels a chaos run quotes: light and heavy, so a stray answer gives a visibly wrong price.
var chaosParcels = []QuoteRequest{{OrderID: "o-1", Grams: 800}, {OrderID: "o-2", Grams: 19_500}, {OrderID: "o-3", Grams: 4_200}}

// The chaos stage: three carriers, each with a behaviour picked by the seed (answering twice, re-sending its answer,
// answering late into the next round, silent, down for maintenance), Sales' broker link slowed, and three rounds, the
// second sometimes for the same order with a heavier basket. Every round must end in time with a genuine quote for
// its own question, no dearer than the cheapest carrier that answered at once; no reply may come back after Sales
// settled it; no request may outlive its round in the queue of a carrier that is down.
func TestChaos(t *testing.T) {
	chaos.Run(t, chaos.Battery{Seed: chaosSeed, Runs: 6, Scenario: chaosRun})
}

func chaosRun(env *harness.Env, s *chaos.Schedule) {
	carriers := []*Carrier{fastpost(), parcelline(), bargainbox()}
	does := map[string]behaviour{}
	for i, c := range carriers {
		choices := anything
		if i == 0 {
			choices = answering
		}
		does[c.Name] = choices[s.Intn(len(choices))]
		s.Note("%s %s", c.Name, does[c.Name])
	}
	first := chaosParcels[s.Intn(len(chaosParcels))]
	second := chaosParcels[s.Intn(len(chaosParcels))]
	if s.Chance(40, "the second round quotes %s again, with a heavier basket", first.OrderID) {
		second = QuoteRequest{OrderID: first.OrderID, Grams: first.Grams + 15_000}
	}
	third := chaosParcels[s.Intn(len(chaosParcels))]
	s.Note("rounds: %s (%s), %s (%s), %s (%s)", first.OrderID, weight(first), second.OrderID, weight(second),
		third.OrderID, weight(third))

	gate := make(chan struct{})
	var running, maintenance []*Carrier
	for _, c := range carriers {
		switch does[c.Name] {
		case twice:
			c.Copies = 2
		case chatty:
			c.Copies, c.Every = 8, retryEvery
		case late:
			c.Hold = gate
		case silent:
			c.Silent = true
		}
		if does[c.Name] == down {
			maintenance = append(maintenance, c)
		} else {
			running = append(running, c)
		}
	}
	co := openShop(env, running...)
	for _, c := range maintenance {
		co.addDown(c)
	}
	s.Slow(co.sales, chaosSlowest)

	r := &chaosRounds{co: co, does: does}
	r.round(first, nil)
	r.round(second, gate)
	for _, c := range maintenance {
		r.expired(c, first, second)
		env.Log(c.Name, "is back from maintenance")
		startCarrier(env, c, co.exchange)
		r.back = append(r.back, c.Name)
	}
	r.round(third, nil)
	r.settledOnce()
}

// chaosRounds runs the rounds of one chaos run and judges each.
type chaosRounds struct {
	co   *checkout
	does map[string]behaviour
	back []string // carriers back from maintenance
	gate bool     // the late carrier's held answer has been let go
}

// round asks for req and judges the answer. gate, when set, holds the late carrier's answer: the test lets it go once
// the round's request has reached the carriers that answer at once.
func (r *chaosRounds) round(req QuoteRequest, gate chan struct{}) {
	co, env := r.co, r.co.env
	env.T.Helper()
	asked := map[string]int{}
	for name, c := range co.carriers {
		asked[name] = c.Requests(req.OrderID)
	}
	round := co.ask(co.sales.Context(), req)
	if gate != nil {
		requested := env.Eventually(func() bool {
			for _, name := range r.prompt() {
				if co.carriers[name].Requests(req.OrderID) <= asked[name] {
					return false
				}
			}
			return true
		})
		if !requested {
			env.Fail(story.Stalled, "the carriers never received the request for order %s (%s)", req.OrderID, weight(req))
		}
		env.Log("test", "lets the late answer go, during the round for %s (%s)", req.OrderID, weight(req))
		close(gate)
		r.gate = true
	}
	got, ok := co.await(round)
	if !ok {
		env.Fail(story.Stalled, "the customer at checkout for order %s (%s) was still waiting for a shipping quote after %v",
			req.OrderID, weight(req), stallLimit)
	}
	co.judge(req, got, r.prompt()...)
}

// prompt names the carriers whose answer to a round arrives at once: up, not silent, and (once released) not held.
func (r *chaosRounds) prompt() []string {
	var out []string
	for _, c := range []string{"fastpost", "parcelline", "bargainbox"} {
		switch r.does[c] {
		case silent:
			continue
		case late:
			if !r.gate {
				continue
			}
		case down:
			if !contains(r.back, c) {
				continue
			}
		}
		out = append(out, c)
	}
	return out
}

// expired fails the run unless the requests of the ended rounds left the queue of a carrier that was down.
func (r *chaosRounds) expired(c *Carrier, rounds ...QuoteRequest) {
	env := r.co.env
	env.T.Helper()
	gone := env.EventuallyWithin(requestLifetime, func() bool {
		n, _, err := env.QueueDepth(c.Queue)
		return err == nil && n == 0
	})
	if !gone {
		env.Fail(story.Stalled, "the QuoteRequests of rounds that ended (%s) were still waiting in %s's queue %v later "+
			"(%s is down for maintenance): a request must not outlive its round", orders(rounds), c.Name, requestLifetime, c.Name)
	}
}

// settledOnce fails the run when a reply came back to Sales after Sales had settled it.
func (r *chaosRounds) settledOnce() {
	co, env := r.co, r.co.env
	env.T.Helper()
	for name, c := range co.carriers {
		for i := 1; i <= c.Sent(); i++ {
			id := fmt.Sprintf("%s-%d", name, i)
			if n := env.Deliveries(id); n > 1 {
				env.Fail(story.Stalled, "%s's reply %s was delivered to Sales %d times: it was put back in the reply queue "+
					"instead of acked", name, id, n)
			}
		}
	}
}

func orders(reqs []QuoteRequest) string {
	var out string
	for i, req := range reqs {
		if i > 0 {
			out += ", "
		}
		out += req.OrderID + " (" + weight(req) + ")"
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
