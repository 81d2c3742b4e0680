// Do not edit: this test shows the failure.
package steps

import (
	"fmt"
	"testing"
)

// exactlyOnce fails with DUPLICATE or LOST unless every id of want was charged once.
func exactlyOnce(t *testing.T, b *Billing, want ...string) {
	t.Helper()
	count := map[string]int{}
	for _, id := range b.Charged {
		count[id]++
	}
	for _, id := range want {
		switch n := count[id]; {
		case n > 1:
			t.Fatalf("DUPLICATE: order %s was charged %d times", id, n)
		case n == 0:
			t.Fatalf("LOST: order %s was never charged (%s)", id, fmt.Sprint(b.Charged))
		}
	}
}

func TestEveryOrderIsCharged(t *testing.T) {
	b := New()
	b.Handle("o-1")
	b.Handle("o-2")
	exactlyOnce(t, b, "o-1", "o-2")
}

func TestRedeliveryChargesOnce(t *testing.T) {
	b := New()
	b.Handle("o-1")
	b.Handle("o-1")
	exactlyOnce(t, b, "o-1")
}

func TestRestartChargesOnce(t *testing.T) {
	b := New()
	b.Handle("o-1")
	b.Restart()
	b.Handle("o-1")
	exactlyOnce(t, b, "o-1")
}
