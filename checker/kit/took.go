package kit

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	"msglabs/checker/gotest"
)

// TookFile, in a lab's run folder, keeps how long each visible test took in the lab's last run, so that the next
// run starts the slowest first (gotest.Options.Took).
const TookFile = "took.json"

// lastTook reads how long lab n's visible tests took in its last run; nil when there was none or it is unreadable
// (the run then starts them in the lab's order).
func (k *Kit) lastTook(n int) map[string]time.Duration {
	data, err := os.ReadFile(filepath.Join(k.RunDir(n), TookFile))
	if err != nil {
		return nil
	}
	var ms map[string]int64
	if json.Unmarshal(data, &ms) != nil {
		return nil
	}
	out := make(map[string]time.Duration, len(ms))
	for name, d := range ms {
		out[name] = time.Duration(d) * time.Millisecond
	}
	return out
}

// saveTook records how long each top-level test of rep took, for lab n's next run. It is a hint only: a failure to
// write it is ignored.
func (k *Kit) saveTook(n int, rep *gotest.Report) {
	ms := map[string]int64{}
	for _, t := range rep.Tests {
		if t.Top() && (t.Status == gotest.Pass || t.Status == gotest.Fail) {
			ms[t.Name] = t.Elapsed.Milliseconds()
		}
	}
	if len(ms) == 0 {
		return
	}
	data, err := json.Marshal(ms)
	if err != nil {
		return
	}
	dir := k.RunDir(n)
	if os.MkdirAll(dir, 0o755) != nil {
		return
	}
	tmp := filepath.Join(dir, "."+TookFile+".tmp")
	if os.WriteFile(tmp, data, 0o644) == nil {
		_ = os.Rename(tmp, filepath.Join(dir, TookFile))
	}
}
