package harness

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"msglabs/shared/shop"
	"msglabs/shared/story"
)

// failingTB is a TB whose Fatal records the story and fails the test as far as Failed is concerned, without
// failing the real test: it lets a test watch a story being told and exported.
type failingTB struct {
	testing.TB
	msg string
}

func (f *failingTB) Helper() {}
func (f *failingTB) Fatal(args ...any) {
	f.msg = args[0].(string)
	panic(f)
}
func (f *failingTB) Failed() bool { return f.msg != "" }

// tell runs judge, which is expected to fail the test through f.
func (f *failingTB) tell(judge func()) {
	defer func() {
		if r := recover(); r != nil && r != any(f) {
			panic(r)
		}
	}()
	judge()
}

// With MSGLABS_RUN_DIR set, a test's events are written at cleanup, in the shape the checker draws from.
func TestEventsAreExported(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(EnvRunDir, dir)
	var id string
	t.Run("inner/case", func(t *testing.T) {
		ft := &failingTB{TB: t}
		env := New(ft)
		queue := env.Name("billing")
		billing := env.Process("billing")
		ch, err := billing.MustDial().Channel()
		if err != nil {
			t.Fatal(err)
		}
		declareQueue(t, ch, queue)
		id = env.Publisher("sales").Send("", queue, shop.BillOrder{OrderID: "o-1"})
		if _, ok, err := ch.Get(queue, false); err != nil || !ok {
			t.Fatalf("get: %v %v", ok, err)
		}
		billing.Kill()
		ft.tell(func() { env.Fail(story.Lost, "order o-1 was never billed") })
	})
	raw, err := os.ReadFile(filepath.Join(dir, "events", "TestEventsAreExported__inner__case.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if want := []string{"actors", "events", "failed", "headline", "lab", "marker", "test"}; !reflect.DeepEqual(keys, want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	x, err := story.ReadExport(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	if x.Test != "TestEventsAreExported/inner/case" || !x.Failed || x.Marker != story.Lost ||
		x.Headline != "order o-1 was never billed" || x.Lab != "" {
		t.Fatalf("export header = %+v", x)
	}
	if want := []string{"test", "billing", "sales"}; !reflect.DeepEqual(x.Actors, want) {
		t.Fatalf("actors %v, want %v", x.Actors, want)
	}
	var deliver, failure story.Event
	for _, ev := range x.Events {
		switch ev.Kind {
		case story.Deliver:
			deliver = ev
		case story.Failure:
			failure = ev
		}
	}
	if deliver.Actor != "billing" || deliver.Message != id || deliver.Peer != "billing" || deliver.Redelivered ||
		!strings.HasPrefix(deliver.Text, "received "+id) {
		t.Errorf("deliver event = %+v", deliver)
	}
	if failure.Actor != "test" || failure.Text != "LOST: order o-1 was never billed" {
		t.Errorf("failure event = %+v, want the verdict", failure)
	}
	for _, ev := range x.Events {
		if ev.AtMS < 0 || ev.Kind == "" || ev.Text == "" {
			t.Errorf("event without time, kind or text: %+v", ev)
		}
	}
}

// Without MSGLABS_RUN_DIR nothing is written; a passing test exports no marker.
func TestPassingTestExportsNoMarker(t *testing.T) {
	dir := t.TempDir()
	t.Run("off", func(t *testing.T) {
		t.Setenv(EnvRunDir, "")
		New(t).Log("test", "hello")
	})
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("files written without %s: %v", EnvRunDir, entries)
	}
	t.Setenv(EnvRunDir, dir)
	t.Run("passes", func(t *testing.T) { New(t).Log("test", "hello") })
	f, err := os.Open(filepath.Join(dir, "events", "TestPassingTestExportsNoMarker__passes.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	x, err := story.ReadExport(f)
	if err != nil {
		t.Fatal(err)
	}
	if x.Failed || x.Marker != "" || x.Headline != "" || len(x.Events) != 1 {
		t.Fatalf("a passing test's export = %+v", x)
	}
}
