// Do not edit: this test shows the failure.

package pubsub

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"msglabs/shared/chaos"
	"msglabs/shared/harness"
	"msglabs/shared/shop"
	"msglabs/shared/story"
)

// TestChaos runs seeded evenings of the shop's events: Billing, Shipping and Audit (bound with "order.*") subscribe
// or not, some with a typo in their binding, each with one or two instances (OS processes); instances are killed
// and restarted between orders, and the broker's answers may reach Sales late. Whatever happens: every service whose
// binding matches gets every order exactly once (over all its instances), a service whose binding matches nothing
// gets nothing, and Sales is told ErrUnroutable exactly when no binding matches.
func TestChaos(t *testing.T) {
	chaos.Run(t, chaos.Battery{Seed: 200, Runs: 6, Scenario: rush})
}

// service is one subscribing service in a chaos run, and its running instances.
type service struct {
	name, binding string
	matches       bool // its binding matches OrderPlaced's routing key
	instances     []*harness.Process
	handled       *handled
}

// restart is a planned kill of an idle instance before an order, and its restart after that order was published.
type restart struct {
	service, instance int
}

// rush is one seeded schedule of TestChaos.
func rush(env *harness.Env, s *chaos.Schedule) {
	services := subscribe(env, s)
	orders := s.Between(2, 5, "orders")
	restarts := map[int]restart{}
	for i := 1; i <= orders && len(services) > 0; i++ {
		if s.Chance(25, "an instance is killed before order %d and restarted after it", i) {
			k := s.Intn(len(services))
			restarts[i] = restart{service: k, instance: s.Intn(len(services[k].instances))}
			s.Note("the instance killed is %s", services[k].instances[restarts[i].instance].Name)
		}
	}
	lag := time.Duration(s.Intn(3)) * 50 * time.Millisecond
	if lag > 0 {
		s.Note("the broker's answers reach Sales %s late", lag)
	}
	sales := startSalesAs(env, env.Process("sales"), lag)

	routed := anyMatches(services)
	var placed []string
	for i := 1; i <= orders; i++ {
		id := shop.OrderID(i)
		r, restarting := restarts[i]
		if restarting {
			caughtUp(env, services, placed)
			services[r.service].instances[r.instance].Kill()
		}
		err := sales.PublishOrderPlaced(env.Context(), shop.OrderPlaced{OrderID: id, Customer: "dan", Cents: 700 + i})
		judgePublish(env, id, err, routed)
		placed = append(placed, id)
		if restarting {
			svc := services[r.service]
			old := svc.instances[r.instance]
			svc.instances[r.instance] = spawnSubscriber(env, baseName(old.Name), svc.name, svc.binding, svc.handled)
		}
	}
	caughtUp(env, services, placed)
	for _, svc := range services {
		want := placed
		if !svc.matches {
			want = nil
		}
		env.ExactlyOnce(story.Expect{Item: "order", From: "placed", Done: "handled by " + svc.name}.Because(
			"%s subscribed with %q", svc.name, svc.binding), want, svc.handled.ids(), svc.handled.byInstance())
	}
}

// subscribe picks which services subscribe tonight, with which binding and how many instances, and starts them.
func subscribe(env *harness.Env, s *chaos.Schedule) []*service {
	env.T.Helper()
	candidates := []struct{ name, binding, typo string }{
		{"billing", OrderPlacedKey, "order.palced"},
		{"shipping", OrderPlacedKey, "order.placd"},
		{"audit", "order.*", "ordr.*"},
	}
	var services []*service
	for _, c := range candidates {
		if !s.Chance(70, "%s subscribes", c.name) {
			continue
		}
		svc := &service{name: c.name, binding: c.binding, matches: true, handled: &handled{env: env, service: c.name}}
		if s.Chance(20, "%s's binding has a typo: %q", c.name, c.typo) {
			svc.binding, svc.matches = c.typo, false
		}
		n := s.Between(1, 2, c.name+" instances")
		for i := 1; i <= n; i++ {
			svc.instances = append(svc.instances, spawnSubscriber(env, fmt.Sprintf("%s-%d", c.name, i), c.name, svc.binding, svc.handled))
		}
		services = append(services, svc)
	}
	return services
}

// judgePublish fails the run when Sales was told the wrong thing about an order: an error although a subscriber's
// binding matches, or nil although none does.
func judgePublish(env *harness.Env, id string, err error, routed bool) {
	env.T.Helper()
	switch {
	case routed && err != nil:
		env.Fail(story.Lost, "order %s was never published: Sales' publish failed although a subscriber's binding matches: %v", id, err)
	case !routed && err == nil:
		env.Fail(story.Lost, "order %s reached no subscriber, and Sales was told it was published: no binding matches %q",
			id, OrderPlacedKey)
	case !routed && !errors.Is(err, ErrUnroutable):
		env.Fail(story.Stalled, "Sales could not say what became of order %s: publishing it failed, but not as ErrUnroutable: %v", id, err)
	}
}

// caughtUp waits until every service whose binding matches has handled every order placed so far, and nothing is
// unacked: an instance killed after this loses nothing it held.
func caughtUp(env *harness.Env, services []*service, placed []string) {
	env.T.Helper()
	env.Settle(func() bool {
		for _, svc := range services {
			if svc.matches && len(svc.handled.ids()) < len(placed) {
				return false
			}
		}
		return env.Unacked() == 0
	})
}

func anyMatches(services []*service) bool {
	for _, svc := range services {
		if svc.matches {
			return true
		}
	}
	return false
}

// baseName is a process's name without its restart count: "billing-1#2" → "billing-1".
func baseName(name string) string {
	for i := range len(name) {
		if name[i] == '#' {
			return name[:i]
		}
	}
	return name
}
