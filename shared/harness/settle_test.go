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
