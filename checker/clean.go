package main

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"msglabs/shared/infra"
	"msglabs/shared/leftover"
)

// EnvOwner names the owner of the broker names and schemas a checkout's test runs create (D6).
const EnvOwner = leftover.EnvOwner

// sweepTimeout bounds the start-up sweep; it runs beside the build of the test binary and never delays a verdict
// by more than this.
const sweepTimeout = 3 * time.Second

// maxListed is how many removed names `checker clean` prints before it only counts.
const maxListed = 20

// leftovers is what the checker needs from the kit's leftover registry (shared/leftover): the queues, exchanges and
// schemas test runs left behind on the services.
type leftovers interface {
	// Sweep removes owner's names whose process is gone, and returns what it removed.
	Sweep(ctx context.Context, owner string) ([]string, error)
	// Clean removes every owner's names older than olderThan, and returns what it removed.
	Clean(ctx context.Context, olderThan time.Duration) ([]string, error)
}

// registry is shared/leftover's registry of the names test runs create, on the run's services.
type registry struct{ kit leftover.Kit }

func (r registry) Sweep(ctx context.Context, owner string) ([]string, error) {
	res, err := r.kit.Sweep(ctx, owner)
	return names(res), err
}

func (r registry) Clean(ctx context.Context, olderThan time.Duration) ([]string, error) {
	res, err := r.kit.Clean(ctx, olderThan)
	return names(res), err
}

func names(res leftover.Result) []string {
	out := make([]string, 0, len(res.Removed))
	for _, rec := range res.Removed {
		out = append(out, fmt.Sprintf("%s %s", rec.Kind, rec.Name))
	}
	return out
}

// openRegistry is the default app.leftovers.
func openRegistry(_ context.Context, eps infra.Endpoints) (leftovers, error) {
	return registry{leftover.Kit{AMQPURL: eps.AMQP.URL, DatabaseURL: eps.Database.URL}}, nil
}

// Owner ids as shared/leftover reads them from MSGLABS_OWNER: lower case, letters and digits, at most 12.
var ownerUnsafe = regexp.MustCompile(`[^a-z0-9]+`)

const maxOwnerLen = 12

// owner returns this checkout's owner id, the one the harness puts in every name it creates: MSGLABS_OWNER (as
// shared/leftover cleans it), else leftover.DefaultOwner of this host and the kit root. The checker passes it to
// the test binaries, so the start-up sweep and clean find exactly this checkout's names.
func (a *app) owner(root string) string {
	if v := ownerUnsafe.ReplaceAllString(strings.ToLower(a.getenv(EnvOwner)), ""); v != "" {
		return v[:min(len(v), maxOwnerLen)]
	}
	host, _ := os.Hostname()
	return leftover.DefaultOwner(host, root)
}

func (a *app) cmdClean(ctx context.Context, args []string) int {
	fs := a.flags("clean")
	olderThan := fs.Duration("older-than", 0, "(instructor) remove every kit leftover older than this, whoever made it, e.g. 2h")
	pos, err := parse(fs, args)
	if err != nil {
		return usageErr(err)
	}
	if len(pos) > 0 || *olderThan < 0 {
		fmt.Fprintln(a.stderr, "checker clean: takes no arguments; --older-than wants a positive duration, e.g. 2h")
		return exitEnv
	}
	k, ok := a.open()
	if !ok {
		return exitEnv
	}
	eps, ok := a.resolveInfra(ctx)
	if !ok {
		return exitEnv
	}
	reg, err := a.leftovers(ctx, eps)
	if err != nil {
		fmt.Fprintf(a.stderr, "checker clean: %v\n", err)
		return exitEnv
	}
	var removed []string
	what := "leftovers of this checkout"
	if *olderThan > 0 {
		what = fmt.Sprintf("kit leftovers older than %s", *olderThan)
		removed, err = reg.Clean(ctx, *olderThan)
	} else {
		removed, err = reg.Sweep(ctx, a.owner(k.Root))
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "checker clean: %s: %v\n", what, err)
		return exitEnv
	}
	if len(removed) == 0 {
		fmt.Fprintf(a.stdout, "nothing to clean: no %s on the services\n", what)
		return exitOK
	}
	fmt.Fprintf(a.stdout, "removed %d names (%s):\n", len(removed), what)
	for i, name := range removed {
		if i == maxListed {
			fmt.Fprintf(a.stdout, "  … and %d more\n", len(removed)-maxListed)
			break
		}
		fmt.Fprintf(a.stdout, "  %s\n", name)
	}
	return exitOK
}

// sweep removes this owner's stale names in the background while a run builds its test binary. The returned
// function waits for it (bounded by sweepTimeout); a failure is not the run's business and is not printed.
func (a *app) sweep(ctx context.Context, eps infra.Endpoints, root string) (wait func()) {
	ctx, cancel := context.WithTimeout(ctx, sweepTimeout)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if reg, err := a.leftovers(ctx, eps); err == nil {
			_, _ = reg.Sweep(ctx, a.owner(root))
		}
	}()
	return func() {
		<-done
		cancel()
	}
}
