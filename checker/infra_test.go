package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"msglabs/checker/doctor"
	"msglabs/checker/gotest"
	"msglabs/checker/kit"
	"msglabs/checker/lab"
	"msglabs/checker/progress"
	"msglabs/checker/room"
	"msglabs/shared/fault"
	"msglabs/shared/infra"
	"msglabs/shared/leftover"
)

// realLab is the lab the end-to-end tests run: its tests talk to RabbitMQ and PostgreSQL, and take about a second.
const realLab = "01-temporal-coupling"

// miniKit copies what one real lab needs into a temporary kit: go.mod and go.sum, shared/, labs/labs.sum, the lab
// and its solution. It skips the test when the machine's RabbitMQ does not answer at the local default.
func miniKit(t *testing.T, slug string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs a real lab against RabbitMQ and PostgreSQL")
	}
	if err := infra.DialTCP(context.Background(), infra.DefaultAMQP); err != nil {
		t.Skipf("no RabbitMQ at the local default: %v", err)
	}
	src, err := lab.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	for _, rel := range []string{"go.mod", "go.sum", "shared", lab.SumFile, "labs/" + slug, "solutions/" + slug} {
		copyTree(t, filepath.Join(src, filepath.FromSlash(rel)), filepath.Join(root, filepath.FromSlash(rel)))
	}
	return root
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, path)
		dst := filepath.Join(to, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// realServices makes the app use the given broker URL and the local PostgreSQL, probed for real.
func (ta *testApp) realServices(amqpURL string) {
	ta.resolve = func(context.Context) (infra.Endpoints, error) {
		return infra.Endpoints{AMQP: infra.Endpoint{URL: amqpURL}, Database: infra.Endpoint{URL: infra.DefaultDatabase}}, nil
	}
	ta.probes = doctor.DefaultProbes()
	ta.probes.Getenv = ta.getenvOf
}

func TestWrongBrokerPasswordIsInfraAndRecordsNothing(t *testing.T) {
	root := miniKit(t, realLab)
	ta := newTestApp(t, root)
	ta.realServices("amqp://guest:not-the-password@127.0.0.1:5672/")
	out := ta.expect(t, exitEnv, "run", "1")
	// How doctor's handshake words the refusal is doctor's; the fix names the variable either way.
	wantAll(t, out, "INFRA: RabbitMQ at amqp://guest:***@127.0.0.1:5672/", "; fix: ", "MSGLABS_AMQP_URL", "nothing was recorded")
	wantNone(t, out, "not-the-password", "stuck?", "✗ lab 1: ")
	if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(progress.File))); err == nil {
		t.Fatal("an INFRA run wrote the progress")
	}
}

func TestBrokerConnectionCutMidRunIsInfraAndRecordsNothing(t *testing.T) {
	root := miniKit(t, realLab)
	proxy, err := fault.NewProxy("127.0.0.1:5672", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	k, err := kit.Open(root, false)
	if err != nil {
		t.Fatal(err)
	}
	probes := doctor.DefaultProbes()
	eps := infra.Endpoints{AMQP: infra.Endpoint{URL: "amqp://guest:guest@" + proxy.Addr() + "/"}, Database: infra.Endpoint{URL: infra.DefaultDatabase}}
	owner := fmt.Sprintf("c%x", time.Now().UnixNano()&0xffffff)
	sweptAtCleanup(t, root, owner) // the cut leaves the tests' queues behind: the kit's clean must take them
	var once sync.Once
	res, err := k.Run(context.Background(), 1, kit.RunOptions{Endpoints: eps, Probes: &probes, Owner: owner}, func(ev gotest.Event) {
		if ev.Kind == gotest.TestStarted {
			once.Do(func() { proxy.Refuse(true); proxy.Cut() }) // the broker goes away under the first test
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome() != kit.InfraDown {
		var stories []string
		for _, r := range res.Report.Tests {
			stories = append(stories, r.Name+": "+strings.SplitN(r.Story, "\n", 2)[0]+"\n    "+strings.Join(r.Output, "\n    "))
		}
		t.Fatalf("broker cut mid-run: outcome %s, want infra; the tests said:\n%s", res.Outcome(), strings.Join(stories, "\n"))
	}
	if err := k.Record(res); err != nil || res.Recorded {
		t.Fatalf("an INFRA run was recorded (%v)", err)
	}
}

// sweptAtCleanup registers a cleanup that cleans owner's names (cleanUntilNoneLeft) once the test is over.
func sweptAtCleanup(t *testing.T, root, owner string) {
	t.Helper()
	t.Cleanup(func() { cleanUntilNoneLeft(t, root, owner, "the run") })
}

// cleanUntilNoneLeft runs `checker clean` as owner until none of owner's names are left, and fails the test when
// some still are 10 s after what (a killed checker, a run) ended: its test binary still running? The bound is
// generous for a loaded machine, and ends as soon as all are gone.
func cleanUntilNoneLeft(t *testing.T, root, owner, what string) {
	t.Helper()
	ta := newTestApp(t, root)
	ta.env[EnvOwner] = owner
	ta.realServices(infra.DefaultAMQP)
	deadline := time.Now().Add(10 * time.Second)
	for {
		ta.expect(t, exitOK, "clean")
		left := ownedBy(t, owner)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("10s after %s, owner %s still has %v (its test binary still running?)", what, owner, left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ownedBy returns the registered names of owner on the local services.
func ownedBy(t *testing.T, owner string) []string {
	t.Helper()
	recs, err := leftover.Kit{AMQPURL: infra.DefaultAMQP, DatabaseURL: infra.DefaultDatabase}.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range recs {
		if r.Owner == owner {
			out = append(out, r.Name)
		}
	}
	return out
}

func TestNothingIsLeftAfterAnInterruptedRunAndClean(t *testing.T) {
	root := miniKit(t, realLab)
	owner := fmt.Sprintf("t%x", time.Now().UnixNano()&0xffffff)
	ta := newTestApp(t, root)
	ta.env[EnvOwner] = owner
	ta.realServices(infra.DefaultAMQP)
	k, err := kit.Open(root, false)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	interrupted := make(chan []string, 1)
	_, err = k.Run(ctx, 1, kit.RunOptions{Endpoints: infra.Endpoints{AMQP: infra.Endpoint{URL: infra.DefaultAMQP},
		Database: infra.Endpoint{URL: infra.DefaultDatabase}}, Owner: owner}, func(ev gotest.Event) {
		if ev.Kind != gotest.TestStarted {
			return
		}
		once.Do(func() {
			go func() { // Ctrl-C once the test has created its names
				deadline := time.Now().Add(30 * time.Second)
				for len(ownedBy(t, owner)) == 0 && time.Now().Before(deadline) {
					time.Sleep(5 * time.Millisecond)
				}
				interrupted <- ownedBy(t, owner)
				cancel()
			}()
		})
	})
	if err == nil {
		t.Fatal("the interrupted run returned no error")
	}
	if names := <-interrupted; len(names) == 0 {
		t.Fatal("the test registered no names before the interrupt: nothing to clean, the test proves nothing")
	}
	t.Logf("left before clean: %v", ownedBy(t, owner))
	ta.expect(t, exitOK, "clean")
	if left := ownedBy(t, owner); len(left) != 0 {
		t.Fatalf("after checker clean, owner %s still has %v", owner, left)
	}
}

func TestRunIsAnnouncedToTheRoomWithoutChangingItsResult(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go test and publishes to RabbitMQ")
	}
	if err := infra.DialTCP(context.Background(), infra.DefaultAMQP); err != nil {
		t.Skipf("no RabbitMQ at the local default: %v", err)
	}
	ta := newTestApp(t, sealedKit(t))
	ta.realServices(infra.DefaultAMQP)
	ta.env[room.EnvRoom] = fmt.Sprintf("nobody%x", time.Now().UnixNano()&0xffffff) // a room nobody set up
	ta.env[room.EnvAttendee] = "ann"
	out := ta.expect(t, exitFailing, "run", "1")
	wantAll(t, out, "✗ lab 1: step 1 of 1 failing")
	if !strings.Contains(ta.errOut.String(), "this run was not shown in room") {
		t.Fatalf("stderr = %q, want the room's one warning line", ta.errOut)
	}
	delete(ta.env, room.EnvRoom)
	ta.expect(t, exitFailing, "run", "1")
	if ta.errOut.Len() != 0 {
		t.Fatalf("without a room the run said on stderr: %q", ta.errOut)
	}
}

// TestNothingIsLeftAfterTheCheckerIsKilled runs the real checker binary, SIGKILLs it while a test has its names,
// and checks that its test binary dies with it and that the next run's start-up sweep removes what it left.
func TestNothingIsLeftAfterTheCheckerIsKilled(t *testing.T) {
	root := miniKit(t, realLab)
	src, err := lab.FindRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "checker")
	build := exec.Command("go", "build", "-o", bin, "./checker")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the checker: %v\n%s", err, out)
	}
	owner := fmt.Sprintf("k%x", time.Now().UnixNano()&0xffffff)
	cmd := exec.Command(bin, "run", "1")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), EnvOwner+"="+owner, infra.EnvAMQP+"="+infra.DefaultAMQP, infra.EnvDatabase+"="+infra.DefaultDatabase)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for len(ownedBy(t, owner)) == 0 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the run registered no names within 60s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Kill() // SIGKILL: the checker gets no chance to clean up
	cmd.Wait()
	t.Logf("left by the killed checker: %v", ownedBy(t, owner))
	// The next run's sweep (here through clean, which is the same Sweep) removes the dead run's names once its
	// test binary is gone too.
	cleanUntilNoneLeft(t, root, owner, "the checker was killed")
}

// dev left, make test's last stage, names what a test run left registered and fails; what was registered before
// --since is not its business.
func TestDevLeftNamesWhatIsStillRegistered(t *testing.T) {
	if err := infra.DialTCP(context.Background(), infra.DefaultAMQP); err != nil {
		t.Skipf("no RabbitMQ at the local default: %v", err)
	}
	owner := fmt.Sprintf("l%x", time.Now().UnixNano()&0xffffff)
	t.Setenv(leftover.EnvOwner, owner)
	reg, err := leftover.Open(context.Background(), infra.DefaultDatabase)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Close) // after the Forget below: cleanups run last-registered first
	name := "ml." + owner + ".left"
	since := time.Now().Add(-time.Second).Unix() // the records are stamped by the database, to the microsecond
	if err := reg.Register(context.Background(), leftover.Broker, name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := reg.Forget(context.Background(), name); err != nil {
			t.Errorf("forget %s: %v", name, err)
		}
	})
	ta := newTestApp(t, t.TempDir())
	ta.realServices(infra.DefaultAMQP)
	out := ta.expect(t, exitFailing, "dev", "left", "--since", fmt.Sprint(since))
	wantAll(t, out, "✗ ", "broker "+name+" (owner "+owner+fmt.Sprintf(", its process %d still runs)", os.Getpid()), "fix: ")
	ta.out.Reset()
	ta.expect(t, exitEnv, "dev", "left")
}
