package kit

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"msglabs/checker/doctor"
	"msglabs/shared/infra"
	"msglabs/shared/story"
)

// Infra is a service the labs cannot use, found before a run or reported by a test during it. It is never the
// attendee's fault, so a run with one records nothing.
type Infra struct {
	Service string // "RabbitMQ", "PostgreSQL"; "" when Detail names it (a test's INFRA sentence)
	Detail  string // what happened, URLs redacted
	Fix     string // what to do
}

// String is the one line the attendee sees: "INFRA: RabbitMQ … ; fix: …", spelled with story's marker.
func (p Infra) String() string {
	s := fmt.Sprintf("%s: %s", story.Infra, strings.TrimSpace(p.Service+" "+p.Detail))
	if p.Fix != "" {
		s += "; fix: " + p.Fix
	}
	return s
}

// Preflight checks both services the way `checker doctor` does (a real AMQP handshake and a PostgreSQL login, each
// bounded by doctor.ProbeTimeout), concurrently, and returns what is wrong: nothing when both answer.
func Preflight(ctx context.Context, eps infra.Endpoints, p doctor.Probes) []Infra {
	type probe struct {
		svc infra.Service
		url string
		run func(context.Context, string) (string, error)
	}
	probes := []probe{{infra.RabbitMQ, eps.AMQP.URL, p.RabbitMQ}, {infra.PostgreSQL, eps.Database.URL, p.Postgres}}
	found := make([]*Infra, len(probes))
	var wg sync.WaitGroup
	for i, pr := range probes {
		if pr.run == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, doctor.ProbeTimeout)
			defer cancel()
			if _, err := pr.run(ctx, pr.url); err != nil {
				found[i] = infraOf(pr.svc, pr.url, err)
			}
		}()
	}
	wg.Wait()
	var out []Infra
	for _, f := range found {
		if f != nil {
			out = append(out, *f)
		}
	}
	return out
}

// infraOf words a failed probe: what the service said, and the fix that goes with it.
func infraOf(svc infra.Service, url string, err error) *Infra {
	msg := strings.ReplaceAll(err.Error(), url, infra.Redact(url))
	p := &Infra{Service: svc.Name, Detail: fmt.Sprintf("at %s: %s", infra.Redact(url), msg)}
	lower := strings.ToLower(msg)
	switch {
	case containsAny(lower, "vhost", "not_allowed", "(530)") || (strings.Contains(lower, "database") && strings.Contains(lower, "does not exist")):
		p.Fix = fmt.Sprintf("correct the vhost or database in %s (the room's line from the instructor)", svc.EnvVar)
	case containsAny(lower, "access_refused", "username or password", "(403)", "password authentication failed", "authentication"):
		p.Fix = fmt.Sprintf("correct the user and password in %s (the room's line from the instructor)", svc.EnvVar)
	default:
		p.Fix = fmt.Sprintf("start it (`make up`), or correct %s; `bin/checker doctor` shows what the kit uses", svc.EnvVar)
	}
	return p
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
