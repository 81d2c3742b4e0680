// Mistake sent-set-in-memory: the projection remembers in memory which e-mails it asked for, and the redeployed process that rebuilds remembers nothing, so customers are e-mailed again
// The rebuild keeps resetting the checkpoints; the set of sent ids in projection.go is meant to stop the repeats.

package sourcing

import (
	"context"
	"fmt"
)

// Rebuild throws the read model away and builds it again from the events: after a bug in apply is fixed, or when a
// new column is added. Call it before Run, with no other projection running.
func (p *Projection) Rebuild(ctx context.Context) error {
	_, err := p.DB.Exec(ctx, `TRUNCATE order_summaries, projection_checkpoints`)
	if err != nil {
		return fmt.Errorf("reset read model: %w", err)
	}
	p.logf("read model and checkpoints reset: Run will replay every event")
	return nil
}
