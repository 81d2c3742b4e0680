package kit

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"msglabs/checker/doctor"
	"msglabs/shared/infra"
	"msglabs/shared/story"
)

// Infra is a service the labs cannot use, found before a run or reported by a test during it. It is never the
// attendee's fault, so a run with one records nothing.
type Infra struct {
	Service string // "RabbitMQ", "PostgreSQL"; "" for a test's INFRA sentence, which names it itself
	Detail  string // what happened, URLs redacted
	Fix     string // what to do
}

// String is the one line the attendee sees: "INFRA: RabbitMQ … ; fix: …", spelled with story's marker.
func (p Infra) String() string {
	what := p.Detail
	if !strings.HasPrefix(what, p.Service) {
		what = strings.TrimSpace(p.Service + " " + what)
	}
	s := fmt.Sprintf("%s: %s", story.Infra, what)
	if p.Fix != "" {
		s += "; fix: " + p.Fix
	}
	return s
}

// Preflight checks both services the way `checker doctor` does (a real AMQP handshake and a PostgreSQL login, each
// bounded as doctor bounds it), concurrently, and returns what is wrong: nothing when both answer.
func Preflight(ctx context.Context, eps infra.Endpoints, p doctor.Probes) []Infra {
	type probe struct {
		svc   infra.Service
		url   string
		run   func(context.Context, string) (string, error)
		limit time.Duration
	}
	// RabbitMQ answers a wrong password only after a pause of a few seconds, so its probe gets the handshake's time
	// on top of the connection's, as doctor gives it: a refused login is then named as such, not as a silence.
	probes := []probe{
		{infra.RabbitMQ, eps.AMQP.URL, p.RabbitMQ, doctor.ProbeTimeout + doctor.HandshakeTimeout},
		{infra.PostgreSQL, eps.Database.URL, p.Postgres, doctor.ProbeTimeout},
	}
	found := make([]*Infra, len(probes))
	var wg sync.WaitGroup
	for i, pr := range probes {
		if pr.run == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, pr.limit)
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

// infraOf words a failed probe the way doctor does: what the service said, and the fix that goes with it.
func infraOf(svc infra.Service, url string, err error) *Infra {
	cause, fix := doctor.Explain(svc, url, svc.EnvVar, err)
	return &Infra{Service: svc.Name, Detail: cause, Fix: fix}
}
