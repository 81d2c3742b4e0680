package harness

import (
	"testing"
	"time"
)

// SettleFor returns at once when the condition holds, and after its own quiet period (not Quiet, not Patience) when
// nothing is happening.
func TestSettleForWaitsItsOwnQuiet(t *testing.T) {
	env := New(t)
	const quiet = 3 * Quiet
	start := time.Now()
	if !env.SettleFor(quiet, func() bool { return true }) {
		t.Fatal("SettleFor false for a true condition")
	}
	if took := time.Since(start); took >= Quiet {
		t.Fatalf("SettleFor took %v for a condition that already held", took)
	}
	start = time.Now()
	if env.SettleFor(quiet, func() bool { return false }) {
		t.Fatal("SettleFor true for a false condition")
	}
	if took := time.Since(start); took < quiet || took > Patience/2 {
		t.Fatalf("SettleFor on an idle system took %v: it should end after about %v of quiet", took, quiet)
	}
}

// Idle does not believe an empty system the moment something was recorded: a delivery on its way to a consumer is in
// no queue's depth and not yet unacked, and it is recorded within IdleGap.
func TestIdleWaitsItsGapAfterTheLastEntry(t *testing.T) {
	env := New(t)
	env.Log("test", "something happened")
	if env.Idle() {
		t.Fatal("Idle true right after an entry was recorded")
	}
	start := time.Now()
	if !env.Eventually(func() bool { return env.Idle() }) {
		t.Fatal("Idle never true on a system where nothing happens")
	}
	if took := time.Since(start); took > Patience/2 {
		t.Fatalf("Idle took %v to hold on a quiet system; want about %v", took, IdleGap)
	}
}
