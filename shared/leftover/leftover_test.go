package leftover_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/harness"
	"msglabs/shared/leftover"
)

// envHelper marks a run of this test binary as the helper that leaves names behind.
const envHelper = "MSGLABS_LEFTOVER_HELPER"

// helperLimit bounds the helper: it waits to be killed, and gives up after this.
const helperLimit = 30 * time.Second

func randomOwner(t *testing.T) string {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "t" + hex.EncodeToString(b[:])
}

func kit(t *testing.T) leftover.Kit {
	t.Helper()
	k, err := leftover.Resolve(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// A test binary killed with SIGKILL in the middle of a test leaves its queues, exchanges and schemas, and the
// records of them; Sweep of its owner removes all of them, and again finds nothing. Three sweeps at once (the
// checker's start-up sweep in three terminals) do not trip over each other.
func TestSweepRemovesWhatAKilledTestLeft(t *testing.T) {
	owner := randomOwner(t)
	names, schemas := runKilledHelper(t, owner)
	k := kit(t)

	recs, err := k.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var registered []string
	for _, r := range recs {
		if r.Owner == owner {
			registered = append(registered, r.Name)
		}
	}
	sort.Strings(registered)
	want := append(append([]string(nil), names...), schemas...)
	sort.Strings(want)
	if strings.Join(registered, " ") != strings.Join(want, " ") {
		t.Fatalf("registered after the kill:\n  %s\nwant:\n  %s", strings.Join(registered, "\n  "), strings.Join(want, "\n  "))
	}
	for _, n := range names {
		if !brokerHas(t, k, n) {
			t.Fatalf("%s is not on the broker after the kill: the test proves nothing", n)
		}
	}
	for _, s := range schemas {
		if !databaseHas(t, k, s) {
			t.Fatalf("schema %s does not exist after the kill: the test proves nothing", s)
		}
	}

	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); _, errs[i] = k.Sweep(t.Context(), owner) }()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent sweeps: %v", err)
	}
	for _, n := range names {
		if brokerHas(t, k, n) {
			t.Errorf("%s survived the sweep", n)
		}
	}
	for _, s := range schemas {
		if databaseHas(t, k, s) {
			t.Errorf("schema %s survived the sweep", s)
		}
	}
	again, err := k.Sweep(t.Context(), owner)
	if err != nil || len(again.Removed) != 0 {
		t.Fatalf("a second sweep removed %d record(s), err %v: everything should be gone", len(again.Removed), err)
	}
}

// runKilledHelper starts TestHelperLeavesNames as owner, waits until it has created everything, kills it with
// SIGKILL, and returns its broker names and schemas.
func runKilledHelper(t *testing.T, owner string) (names, schemas []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), helperLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperLeavesNames$", "-test.v")
	cmd.Env = append(os.Environ(), envHelper+"=1", leftover.EnvOwner+"="+owner, harness.EnvRunDir+"=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	var seen []string
	for sc.Scan() {
		line := sc.Text()
		seen = append(seen, line)
		if rest, ok := strings.CutPrefix(line, "NAMES "); ok {
			names = strings.Fields(rest)
		}
		if rest, ok := strings.CutPrefix(line, "SCHEMAS "); ok {
			schemas = strings.Fields(rest)
		}
		if line == "READY" {
			break
		}
	}
	if len(names) == 0 || len(schemas) == 0 {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("the helper never got ready:\n%s", strings.Join(seen, "\n"))
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if cmd.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("the helper was not killed by SIGKILL: %v", cmd.ProcessState)
	}
	return names, schemas
}

// TestHelperLeavesNames creates a queue, an exchange, a queue known only from the wire, a table in the test's schema
// and an extra schema, reports them, and waits to be killed.
func TestHelperLeavesNames(t *testing.T) {
	if os.Getenv(envHelper) == "" {
		t.Skip("a helper: runs only in a process of its own, started (and killed) by another test")
	}
	env := harness.New(t)
	queue, exchange := env.Name("billing"), env.Name("events")
	retry := queue + ".retry" // never given out by Name: registered when its declare crosses the wire
	ch, err := env.Process("billing").MustDial().Channel()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{queue, retry} {
		if _, err := ch.QueueDeclare(q, true, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := ch.ExchangeDeclare(exchange, "topic", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	env.Exec(`CREATE TABLE charges (id int)`)
	extra := env.ExtraSchema("ledger")
	fmt.Printf("NAMES %s %s %s\nSCHEMAS %s %s\nREADY\n", queue, exchange, retry, env.Schema(), extra)
	select {
	case <-t.Context().Done():
	case <-time.After(helperLimit):
	}
	t.Fatal("the helper was not killed")
}

func brokerHas(t *testing.T, k leftover.Kit, name string) bool {
	t.Helper()
	conn, err := amqp.Dial(k.AMQPURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, declare := range []func(*amqp.Channel) error{
		func(ch *amqp.Channel) error {
			_, err := ch.QueueDeclarePassive(name, false, false, false, false, nil)
			return err
		},
		func(ch *amqp.Channel) error {
			return ch.ExchangeDeclarePassive(name, "topic", false, false, false, false, nil)
		},
	} {
		ch, err := conn.Channel()
		if err != nil {
			t.Fatal(err)
		}
		if declare(ch) == nil {
			ch.Close()
			return true
		}
	}
	return false
}

func databaseHas(t *testing.T, k leftover.Kit, schema string) bool {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), k.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(t.Context()))
	var n int
	if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, schema).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// ownRegistry gives the test an owner of its own (as MSGLABS_OWNER), the local services, and a registry that
// stamps that owner on what it registers; the registry is closed when the test ends.
func ownRegistry(t *testing.T) (string, leftover.Kit, *leftover.Registry) {
	t.Helper()
	owner := randomOwner(t)
	t.Setenv(leftover.EnvOwner, owner)
	k := kit(t)
	reg, err := leftover.Open(t.Context(), k.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Close)
	return owner, k, reg
}

// Names of a process that still runs are not swept, whoever sweeps.
func TestSweepLeavesLiveProcessesAlone(t *testing.T) {
	owner, k, reg := ownRegistry(t)
	name := "ml." + owner + ".live"
	if err := reg.Register(t.Context(), leftover.Broker, name); err != nil {
		t.Fatal(err)
	}
	defer reg.Forget(context.WithoutCancel(t.Context()), name)
	res, err := k.Sweep(t.Context(), owner)
	if err != nil || len(res.Removed) != 0 || res.Live != 1 {
		t.Fatalf("sweep of a live process's name: %+v, %v; want it left alone", res, err)
	}
}

// Since lists what is still registered on this host since a moment, and whether its process runs: make test's last
// stage fails on it. A name registered before that moment, or forgotten since, is not listed.
func TestSinceListsWhatIsStillRegistered(t *testing.T) {
	owner, k, reg := ownRegistry(t)
	before, kept, forgotten := "ml."+owner+".before", "ml."+owner+".kept", "ml."+owner+".forgotten"
	defer reg.Forget(context.WithoutCancel(t.Context()), before, kept, forgotten)
	if err := reg.Register(t.Context(), leftover.Broker, before); err != nil {
		t.Fatal(err)
	}
	// The moment is read off the database's clock, which stamps the records, just after the first one.
	conn, err := pgx.Connect(t.Context(), k.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(t.Context()))
	var since time.Time
	if err := conn.QueryRow(t.Context(), "SELECT clock_timestamp()").Scan(&since); err != nil {
		t.Fatal(err)
	}
	if err := reg.Register(t.Context(), leftover.Broker, kept, forgotten); err != nil {
		t.Fatal(err)
	}
	if err := reg.Forget(t.Context(), forgotten); err != nil {
		t.Fatal(err)
	}
	left, err := k.Since(t.Context(), since)
	if err != nil {
		t.Fatal(err)
	}
	mine := map[string]bool{}
	for _, l := range left {
		if l.Owner == owner {
			mine[l.Name] = l.Alive
		}
	}
	if want := map[string]bool{kept: true}; !maps.Equal(mine, want) {
		t.Fatalf("since the moment, owner %s has %v (name → process alive); want %v", owner, mine, want)
	}
}

// Clean removes everyone's records older than its bound, with their objects, and nothing younger.
func TestCleanRemovesOnlyOldNames(t *testing.T) {
	owner := randomOwner(t)
	k := kit(t)
	old, young := "ml."+owner+".old", "ml."+owner+".young"
	conn, err := pgx.Connect(t.Context(), k.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(t.Context()))
	reg, err := leftover.Open(t.Context(), k.DatabaseURL) // the registry exists from here on
	if err != nil {
		t.Fatal(err)
	}
	reg.Close()
	if _, err := conn.Exec(t.Context(), `INSERT INTO msglabs.leftovers (name, kind, owner, host, pid, created)
		VALUES ($1, 'broker', $3, 'elsewhere', 1, now() - interval '100 years'), ($2, 'broker', $3, 'elsewhere', 1, now())`,
		old, young, owner); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(context.WithoutCancel(t.Context()), `DELETE FROM msglabs.leftovers WHERE owner = $1`, owner)
	mq, err := amqp.Dial(k.AMQPURL)
	if err != nil {
		t.Fatal(err)
	}
	defer mq.Close()
	ch, err := mq.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare(old, false, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	res, err := k.Clean(t.Context(), 50*365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Removed) != 1 || res.Removed[0].Name != old {
		t.Fatalf("Clean removed %+v, want just %s", res.Removed, old)
	}
	if brokerHas(t, k, old) {
		t.Fatalf("queue %s survived Clean", old)
	}
	recs, err := k.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Name == old {
			t.Fatalf("the record of %s survived Clean", old)
		}
	}
	if res, err := k.Clean(t.Context(), 50*365*24*time.Hour); err != nil || len(res.Removed) != 0 {
		t.Fatalf("a second Clean: %+v, %v", res, err)
	}
}

// Thirty test binaries starting at once on a database without the registry create it once, without an error.
func TestRegistryIsCreatedOnceUnderConcurrency(t *testing.T) {
	k := kit(t)
	admin, err := pgx.Connect(t.Context(), k.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.WithoutCancel(t.Context()))
	db := "msglabs_registry_" + randomOwner(t)
	if _, err := admin.Exec(t.Context(), "CREATE DATABASE "+db); err != nil {
		t.Skipf("cannot create a scratch database here: %v", err)
	}
	defer admin.Exec(context.WithoutCancel(t.Context()), "DROP DATABASE "+db+" WITH (FORCE)")
	cfg, err := pgx.ParseConfig(k.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	url := fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, db)
	var wg sync.WaitGroup
	errs := make([]error, 10)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reg, err := leftover.Open(t.Context(), url)
			if err == nil {
				err = reg.Register(t.Context(), leftover.Schema, fmt.Sprintf("s%d", i))
				reg.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent first use of the registry: %v", err)
	}
}

func TestOwner(t *testing.T) {
	if a, b := leftover.DefaultOwner("host", "/kit"), leftover.DefaultOwner("host", "/kit"); a != b || len(a) != 6 {
		t.Fatalf("DefaultOwner = %q, %q: want the same 6 hex digits", a, b)
	}
	if leftover.DefaultOwner("host", "/kit") == leftover.DefaultOwner("host", "/other-kit") {
		t.Fatal("two checkouts on one host share an owner")
	}
	t.Setenv(leftover.EnvOwner, "Ann's Laptop #3, the long name")
	if got := leftover.Owner(); got != "annslaptop3t" {
		t.Fatalf("Owner from %s = %q", leftover.EnvOwner, got)
	}
	env := harness.New(t)
	if name := env.Name("billing"); !strings.HasPrefix(name, "ml.annslaptop3t.") {
		t.Fatalf("name %q does not carry the owner", name)
	}
}
