// Do not edit: the chaos stage.
package steps

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
)

// TestChaos delivers seeded random orders, each one to three times, with restarts in between. It runs only when the
// checker sets MSGLABS_CHAOS; MSGLABS_CHAOS_RUNS says how many schedules (seed 7 + run).
func TestChaos(t *testing.T) {
	if os.Getenv("MSGLABS_CHAOS") == "" {
		t.Skip("the chaos stage runs from the checker")
	}
	runs, _ := strconv.Atoi(os.Getenv("MSGLABS_CHAOS_RUNS"))
	for run := range max(runs, 1) {
		rng := rand.New(rand.NewPCG(7, uint64(run)))
		b := New()
		var ids []string
		for i := range 30 {
			id := fmt.Sprintf("o-%d", i+1)
			ids = append(ids, id)
			for range 1 + rng.IntN(3) {
				if rng.IntN(4) == 0 {
					b.Restart()
				}
				b.Handle(id)
			}
		}
		exactlyOnce(t, b, ids...)
	}
}
