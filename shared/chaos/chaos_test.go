package chaos

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	amqp "github.com/rabbitmq/amqp091-go"

	"msglabs/shared/fault"
	"msglabs/shared/harness"
	"msglabs/shared/shop"
	"msglabs/shared/story"
)

func TestMain(m *testing.M) {
	harness.Main(m, harness.Roles{"inbox": runInbox, "record-first": runRecordFirst})
}

const schema = `
CREATE TABLE charges (order_id text NOT NULL);
CREATE TABLE processed (message_id text PRIMARY KEY)`

// consume runs handle on each delivery of the queue Arg("queue"), acking after it.
func consume(ctx context.Context, s *harness.Service, handle func(amqp.Delivery, shop.BillOrder) error) error {
	ch, err := s.MustDial().Channel()
	if err != nil {
		return err
	}
	if err := ch.Qos(1, 0, false); err != nil {
		return err
	}
	deliveries, err := ch.ConsumeWithContext(ctx, s.Arg("queue"), "", false, false, false, false, nil)
	if err != nil {
		return err
	}
	for d := range deliveries {
		var order shop.BillOrder
		if err := shop.Decode(d.Body, &order); err != nil {
			return err
		}
		if err := handle(d, order); err != nil {
			return err
		}
		if err := d.Ack(false); err != nil {
			return err
		}
	}
	return nil
}

// runInbox is a correct idempotent consumer: the claim and the charge commit together.
func runInbox(ctx context.Context, s *harness.Service) error {
	pool := s.Pool()
	return consume(ctx, s, func(d amqp.Delivery, order shop.BillOrder) error {
		tx, err := pool.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(context.Background())
		tag, err := tx.Exec(ctx, `INSERT INTO processed VALUES ($1) ON CONFLICT DO NOTHING`, d.MessageId)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO charges VALUES ($1)`, order.OrderID); err != nil {
			return err
		}
		return tx.Commit(ctx)
	})
}

// runRecordFirst claims the message in a transaction of its own, then charges: a crash in between loses the charge.
func runRecordFirst(ctx context.Context, s *harness.Service) error {
	pool := s.Pool()
	return consume(ctx, s, func(d amqp.Delivery, order shop.BillOrder) error {
		tag, err := pool.Exec(ctx, `INSERT INTO processed VALUES ($1) ON CONFLICT DO NOTHING`, d.MessageId)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		_, err = pool.Exec(ctx, `INSERT INTO charges VALUES ($1)`, order.OrderID)
		return err
	})
}

// billingBattery is a chaos stage like a lab's: a few orders, some published twice, Billing crashing on one of four
// wire triggers, then restarted; every order must be charged exactly once.
func billingBattery(role string, outcome func(seed int64, charged []string)) Battery {
	return Battery{Seed: 100, Runs: 8, Scenario: func(env *harness.Env, s *Schedule) {
		env.Exec(schema)
		q := env.Name("billing")
		ch, err := env.Process("setup").MustDial().Channel()
		if err != nil {
			env.T.Fatal(err)
		}
		if _, err := ch.QueueDeclare(q, true, false, false, false, nil); err != nil {
			env.T.Fatal(err)
		}
		orders := s.Between(2, 4, "orders")
		args := harness.Args{"queue": q}
		billing := env.SpawnRole("billing", role, args)
		s.CrashOn(billing,
			fault.AfterCommitTo("charges", s.Between(1, orders, "")),
			fault.BeforeCommitTo("charges", s.Between(1, orders, "")),
			fault.BeforeAckOf(fmt.Sprintf("m-%d", s.Between(1, orders, ""))),
			fault.AfterDeliveryOf(fmt.Sprintf("m-%d", s.Between(1, orders, "")), 1))
		var want []string
		twice := map[int]bool{}
		for i := 1; i <= orders; i++ {
			want = append(want, fmt.Sprintf("o-%d", i))
			twice[i] = s.Chance(30, "m-%d is published twice", i)
		}
		if !env.WaitConsumers(q, 1) {
			env.T.Fatal("Billing never started consuming")
		}
		pub := env.Publisher("sales")
		for i := 1; i <= orders; i++ {
			copies := 1
			if twice[i] {
				copies = 2
			}
			for range copies {
				pub.SendWithID(fmt.Sprintf("m-%d", i), "", q, shop.BillOrder{OrderID: fmt.Sprintf("o-%d", i)})
			}
		}
		charged := func() []string { return env.Strings(`SELECT order_id FROM charges ORDER BY order_id`) }
		settled := func() bool { return len(charged()) >= orders && env.Unacked() == 0 && env.MustDepth(q) == 0 }
		env.Settle(func() bool { return billing.Dead() || settled() }, q)
		if billing.Dead() {
			env.WaitConsumers(q, 0)
			env.SpawnRole("billing", role, args)
		}
		env.Settle(settled, q)
		if outcome != nil {
			outcome(s.Seed(), charged())
		}
		env.ExactlyOnce(story.Expect{Item: "order", From: "placed", Done: "charged"}, want, charged())
	}}
}

// A seed always makes the same schedule, and, for a service that behaves, the same outcome.
func TestScheduleIsTheSameForASeed(t *testing.T) {
	t.Setenv(EnvOn, "1")
	t.Setenv(EnvSeed, "7")
	t.Setenv(EnvRuns, "1")
	var schedules [][]string
	var outcomes [][]string
	for range 2 {
		b := billingBattery("inbox", func(_ int64, charged []string) { outcomes = append(outcomes, charged) })
		scenario := b.Scenario
		b.Scenario = func(env *harness.Env, s *Schedule) {
			scenario(env, s)
			schedules = append(schedules, s.Steps())
		}
		Run(t, b)
	}
	if len(schedules) != 2 || !slices.Equal(schedules[0], schedules[1]) || !slices.Equal(outcomes[0], outcomes[1]) {
		t.Fatalf("seed 7 twice:\n%q → %q\n%q → %q", schedules[0], outcomes[0], schedules[1], outcomes[1])
	}
	if other := NewSchedule(8); other.Between(0, 1<<30, "") == NewSchedule(7).Between(0, 1<<30, "") {
		t.Fatal("seeds 7 and 8 made the same first choice")
	}
}

// The battery passes a correct service on every seed.
func TestBatteryPassesACorrectService(t *testing.T) {
	t.Setenv(EnvOn, "1")
	Run(t, billingBattery("inbox", nil))
}

// The battery catches "record-first" (a wrong fix that passes a test crashing only after the commit), and the failure
// says which run, the story, the schedule in words, and how to replay it. Run in a test binary of its own, since the
// failure is the point.
func TestBatteryCatchesAWrongFixAndSaysHowToReplayIt(t *testing.T) {
	if os.Getenv("CHAOS_TEST_ROLE") != "" {
		Run(t, billingBattery(os.Getenv("CHAOS_TEST_ROLE"), nil))
		return
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	out, err := runBattery(exe, "record-first", "")
	if err == nil {
		t.Fatalf("the battery passed record-first:\n%s", out)
	}
	failed := regexp.MustCompile(`chaos run (\d+) of 8 failed \(seed (\d+)\)`).FindStringSubmatch(out)
	if failed == nil || !strings.Contains(out, "LOST: order o-") || !strings.Contains(out, "crashes just before its") ||
		!strings.Contains(out, "replay this schedule: bin/checker chaos N --seed "+failed[2]+" --runs 1") {
		t.Fatalf("the failure does not tell the run, the story, the schedule and the replay:\n%s", out)
	}
	again, err := runBattery(exe, "record-first", failed[2])
	if err == nil || !strings.Contains(again, "chaos run 1 of 1 failed (seed "+failed[2]+")") {
		t.Fatalf("replaying seed %s did not fail the same way:\n%s", failed[2], again)
	}
	if steps(out) != steps(again) {
		t.Fatalf("the replay's schedule differs:\n%s\nreplay:\n%s", steps(out), steps(again))
	}
}

// runBattery runs the battery in a test binary of its own, for one seed (runs 1) or the battery's default.
func runBattery(exe, role, seed string) (string, error) {
	cmd := exec.Command(exe, "-test.run=^TestBatteryCatchesAWrongFixAndSaysHowToReplayIt$", "-test.v")
	cmd.Env = append(os.Environ(), "CHAOS_TEST_ROLE="+role, EnvOn+"=1")
	if seed != "" {
		cmd.Env = append(cmd.Env, EnvSeed+"="+seed, EnvRuns+"=1")
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// steps cuts the numbered schedule out of a failure.
func steps(out string) string {
	var b strings.Builder
	for _, l := range strings.Split(out, "\n") {
		if regexp.MustCompile(`^\s+\d+\. `).MatchString(l) {
			b.WriteString(strings.TrimSpace(l) + "\n")
		}
	}
	return b.String()
}

func TestConfigure(t *testing.T) {
	env := map[string]string{}
	get := func(k string) string { return env[k] }
	c, err := configure(Battery{Seed: 500}, get)
	if err != nil || c.on || c.seed != 500 || c.runs != defaultRuns {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	env[EnvOn], env[EnvSeed], env[EnvRuns] = "1", "42", "3"
	if c, err = configure(Battery{Seed: 500, Runs: 8}, get); err != nil || !c.on || c.seed != 42 || c.runs != 3 {
		t.Fatalf("from the environment: %+v %v", c, err)
	}
	env[EnvRuns] = "0"
	if _, err := configure(Battery{}, get); err == nil {
		t.Fatal("0 runs accepted")
	}
	env[EnvRuns], env[EnvSeed] = "1", "x"
	if _, err := configure(Battery{}, get); err == nil {
		t.Fatal("a seed that is not a number accepted")
	}
}

func TestScheduleWords(t *testing.T) {
	s := NewSchedule(3)
	s.Between(2, 2, "orders")
	s.Order("events", []string{"a", "b"})
	s.Note("m-2 is published twice")
	r := s.Report(2, 8)
	for _, want := range []string{"chaos run 2 of 8 failed (seed 3)", "1. 2 orders", "2. events in this order: ",
		"3. m-2 is published twice", "replay this schedule: bin/checker chaos N --seed 3 --runs 1"} {
		if !strings.Contains(r, want) {
			t.Errorf("report lacks %q:\n%s", want, r)
		}
	}
}
