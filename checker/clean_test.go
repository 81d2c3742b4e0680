package main

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"msglabs/checker/kittest"
	"msglabs/shared/infra"
)

// fakeLeftovers records what the checker asked of the registry.
type fakeLeftovers struct {
	mu      sync.Mutex
	swept   []string
	cleaned []time.Duration
	names   []string
	err     error
}

func (f *fakeLeftovers) Sweep(_ context.Context, owner string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.swept = append(f.swept, owner)
	return f.names, f.err
}

func (f *fakeLeftovers) Clean(_ context.Context, olderThan time.Duration) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cleaned = append(f.cleaned, olderThan)
	return f.names, f.err
}

func (ta *testApp) fakeLeftovers() *fakeLeftovers {
	f := &fakeLeftovers{}
	ta.leftovers = func(context.Context, infra.Endpoints) (leftovers, error) { return f, nil }
	return f
}

func TestCleanSweepsThisOwnerOrEverythingOlder(t *testing.T) {
	ta := newTestApp(t, kittest.New(t))
	f := ta.fakeLeftovers()
	ta.env[EnvOwner] = "ab12cd"
	if out := ta.expect(t, exitOK, "clean"); !strings.Contains(out, "nothing to clean: no leftovers of this checkout") {
		t.Fatalf("clean with nothing left:\n%s", out)
	}
	f.names = []string{"ml.ab12cd.t1.l05.TestX.q1", "ml_ab12cd_t1_l05_testx"}
	out := ta.expect(t, exitOK, "clean")
	if !strings.Contains(out, "removed 2 names (leftovers of this checkout)") || !strings.Contains(out, "ml.ab12cd.t1.l05.TestX.q1") {
		t.Fatalf("clean:\n%s", out)
	}
	if len(f.swept) != 2 || f.swept[0] != "ab12cd" || len(f.cleaned) != 0 {
		t.Fatalf("registry calls: swept %v, cleaned %v; want two sweeps of owner ab12cd", f.swept, f.cleaned)
	}
	if out := ta.expect(t, exitOK, "clean", "--older-than", "2h"); !strings.Contains(out, "kit leftovers older than 2h0m0s") {
		t.Fatalf("clean --older-than:\n%s", out)
	}
	if len(f.cleaned) != 1 || f.cleaned[0] != 2*time.Hour {
		t.Fatalf("cleaned %v, want one clean of 2h", f.cleaned)
	}
	f.err = errors.New("registry table msglabs.leftovers: permission denied")
	ta.expect(t, exitEnv, "clean")
	if !strings.Contains(ta.errOut.String(), "permission denied") {
		t.Fatalf("stderr = %q", ta.errOut)
	}
	ta.expect(t, exitEnv, "clean", "extra")
}

func TestOwnerIsStablePerCheckout(t *testing.T) {
	ta := newTestApp(t, kittest.New(t))
	a, b := ta.owner("/home/ann/msglabs"), ta.owner("/home/ann/msglabs-2")
	if len(a) != 6 || a == b || a != ta.owner("/home/ann/msglabs") {
		t.Fatalf("owners %q and %q: want 6 hex digits, stable for one root, different for another", a, b)
	}
}
