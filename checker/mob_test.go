package main

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"msglabs/checker/kittest"
	"msglabs/checker/mob"
)

func TestMobCountsDownRotatesAndResumes(t *testing.T) {
	root := kittest.New(t)
	ta := newTestApp(t, root)
	t0 := time.Date(2025, 3, 14, 9, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := t0
	ta.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	defer func(d time.Duration) { mobTick = d }(mobTick)
	mobTick = time.Millisecond

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() { done <- ta.cmdMob(ctx, []string{"--minutes", "7", "ann", "bob", "cem"}) }()
	time.Sleep(20 * time.Millisecond)
	mu.Lock()
	now = t0.Add(7*time.Minute + time.Second)
	mu.Unlock()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("exit %d: %s", code, ta.errOut)
	}
	out := ta.out.String()
	for _, want := range []string{"mob of 3, 7-minute turns: ann → bob → cem", "ann drives, bob navigates · 7:00 left",
		"\a⟳ ROTATE ⟳  bob drives now, cem navigates"} {
		if !strings.Contains(out, want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}
	st, ok := mob.Load(filepath.Join(root, ".msglabs", "mob.json"))
	if !ok || st.At(now).Driver != "bob" {
		t.Fatalf("saved rotation: %+v %v", st, ok)
	}

	// Without names it resumes the saved rotation.
	ta.out.Reset()
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if code := ta.cmdMob(ctx, nil); code != exitOK {
		t.Fatalf("resume: exit %d: %s", code, ta.errOut)
	}
	if out := ta.out.String(); !strings.Contains(out, "resuming") || !strings.Contains(out, "bob drives, cem navigates · 6:59 left") {
		t.Fatalf("resume output:\n%s", out)
	}
	ta.out.Reset()
	if code := ta.cmdMob(ctx, []string{"--end"}); code != exitOK {
		t.Fatal("--end failed")
	}
	if code := ta.cmdMob(ctx, nil); code != exitEnv || !strings.Contains(ta.errOut.String(), "no rotation yet") {
		t.Fatalf("after --end: exit %d, stderr %s", code, ta.errOut)
	}
	if code := ta.cmdMob(ctx, []string{"solo"}); code != exitEnv {
		t.Fatal("a mob of one was accepted")
	}
}
