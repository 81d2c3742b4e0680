package lab

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func TestPasses(t *testing.T) {}

func TestFailsLost(t *testing.T) {
	t.Fatal("LOST: order o-1 was never stored (1 placed, 0 stored)\n\ntimeline:\n  +0.001s  customer  POST /orders o-1")
}

func TestInfra(t *testing.T) {
	t.Fatal("INFRA: RabbitMQ refused the login (ACCESS_REFUSED); fix: check MSGLABS_AMQP_URL")
}

func TestSkips(t *testing.T) { t.Skip("not today") }

func TestLongLineNoNewline(t *testing.T) { LongLine(10 * 1024) }

func TestPrintsALot(t *testing.T) {
	for i := 1; i <= 100000; i++ {
		fmt.Printf("line %d\n", i)
	}
}

func TestSubtests(t *testing.T) {
	t.Run("one", func(t *testing.T) {})
	t.Run("two", func(t *testing.T) { t.Fatal("DUPLICATE: order o-2 was charged twice") })
}

func TestExits(t *testing.T) { Exit(3) }

func TestPanics(t *testing.T) { Panic() }

func TestHangs(t *testing.T) { Wait(make(chan struct{})) }

func TestSpins(t *testing.T) { Spin() }

func TestHangsInServeHTTP(t *testing.T) {
	srv := httptest.NewServer(&Handler{Confirmed: make(chan struct{})})
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/orders", "application/json", nil)
	if err == nil {
		resp.Body.Close()
	}
}

// TestHangsWithChild starts a child process in its group, writes both pids to $FIXTURE_PIDS/pids, and hangs.
func TestHangsWithChild(t *testing.T) {
	child := exec.Command("sleep", "60")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	pids := strconv.Itoa(os.Getpid()) + " " + strconv.Itoa(child.Process.Pid)
	dir := os.Getenv("FIXTURE_PIDS")
	if err := os.WriteFile(filepath.Join(dir, "pids.tmp"), []byte(pids), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "pids.tmp"), filepath.Join(dir, "pids")); err != nil {
		t.Fatal(err)
	}
	Wait(make(chan struct{}))
}

// meet writes mine in $FIXTURE_MEET and waits (up to 10 s) for theirs: it passes only while the other test runs at
// the same time, in another process.
func meet(t *testing.T, mine, theirs string) {
	dir := os.Getenv("FIXTURE_MEET")
	if err := os.WriteFile(filepath.Join(dir, mine), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(filepath.Join(dir, theirs)); err == nil {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("STALLED: %s never showed up", theirs)
}

func TestMeetA(t *testing.T) { meet(t, "a", "b") }

func TestMeetB(t *testing.T) { meet(t, "b", "a") }
