package fault

import (
	"sync"
	"testing"
	"time"
)

func TestBarrierReleasesTogether(t *testing.T) {
	opened := 0
	b := NewBarrier(2, 5*time.Second, func() { opened++ })
	var wg sync.WaitGroup
	results := make(chan bool, 3)
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); results <- b.Wait() }()
	}
	wg.Wait()
	if !<-results || !<-results || opened != 1 || !b.Full() {
		t.Fatalf("opened=%d full=%v: both callers must be released by each other", opened, b.Full())
	}
	if !b.Wait() || b.Arrived() != 3 {
		t.Fatal("a caller after the nth must pass at once")
	}
}

func TestBarrierLimit(t *testing.T) {
	b := NewBarrier(2, 20*time.Millisecond, nil)
	start := time.Now()
	if b.Wait() {
		t.Fatal("a lone caller was released as if the barrier were full")
	}
	if took := time.Since(start); took < 20*time.Millisecond || took > 2*time.Second {
		t.Fatalf("held for %v, want about the limit", took)
	}
}
