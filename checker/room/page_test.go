package room

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"msglabs/checker/diagram/headless"
	"msglabs/shared/infra"
)

// liveLimit is how soon after a run the room page must show it (the "within 2 s").
const liveLimit = 2 * time.Second

// attendeeRun is one simulated run of an attendee's checker: Announce, as `checker run` calls it after a run.
func attendeeRun(t testing.TB, eps infra.Endpoints, room, who string, r Run, now time.Time) {
	t.Helper()
	getenv := env(map[string]string{EnvRoom: room, EnvAttendee: who})
	if err := Announce(context.Background(), getenv, eps.AMQP.URL, r, now, io.Discard); err != nil {
		t.Fatalf("%s's run of %s was not announced: %v", who, r.Lab, err)
	}
}

// cellIs is a page expression: the cell of who on lab has the status (and, if given, shows the marker).
func cellIs(who, lab, status, text string) string {
	return `(() => { const c = document.querySelector('tr[data-attendee="` + who + `"] td[data-lab="` + lab + `"]');
		return !!c && c.dataset.status === "` + status + `" && c.textContent.includes("` + text + `"); })()`
}

// TestRoomPageInChromium: ann and bob run labs; the room page in Chromium shows both in the grid, with status
// colours, ann's marker and minutes stuck, and takes bob's next run live, without a reload.
func TestRoomPageInChromium(t *testing.T) {
	eps := endpoints(t)
	room := testRoom(t, eps)
	pool, schema := testSchema(t, eps)
	s, _ := startDashboard(t, eps, room, pool, schema)
	url := newHTTPTest(t, s.Handler(""))

	now := time.Now()
	lab1, lab5 := "01-temporal-coupling", "05-idempotent-consumer"
	attendeeRun(t, eps, room, "ann", Run{Lab: lab1, Step: 1, Result: ResultPass, Hints: 1, Started: now.Add(-40 * time.Minute)}, now)
	attendeeRun(t, eps, room, "ann", Run{Lab: lab5, Step: 1, Result: ResultFail, Marker: "DUPLICATE", Hints: 2, Started: now.Add(-21 * time.Minute)}, now.Add(-20*time.Minute))
	attendeeRun(t, eps, room, "ann", Run{Lab: lab5, Step: 1, Result: ResultFail, Marker: "DUPLICATE", Hints: 3, Started: now.Add(-21 * time.Minute)}, now)
	attendeeRun(t, eps, room, "bob", Run{Lab: lab1, Step: 1, Result: ResultFail, Marker: "LOST", Started: now.Add(-5 * time.Minute)}, now)

	ctx := headless.New(t, 1600, 900)
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/")); err != nil {
		t.Fatalf("open the room page: %v", err)
	}
	waitPage(ctx, t, liveLimit, "ann passed lab 1", cellIs("ann", lab1, ResultPass, "passed"))
	waitPage(ctx, t, liveLimit, "ann fails lab 5 with DUPLICATE, stuck 20 min", cellIs("ann", lab5, ResultFail, "DUPLICATE")+
		` && document.querySelector('tr[data-attendee="ann"] td[data-lab="`+lab5+`"]').textContent.includes("20 min")`)
	waitPage(ctx, t, liveLimit, "bob fails lab 1 with LOST", cellIs("bob", lab1, ResultFail, "LOST"))

	colours, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](`(() => {
		const bg = (who, lab) => getComputedStyle(document.querySelector('tr[data-attendee="' + who + '"] td[data-lab="' + lab + '"]')).backgroundColor;
		const what = document.querySelector('td.cell .what');
		return {pass: bg("ann", "`+lab1+`"), fail: bg("bob", "`+lab1+`"), none: bg("bob", "`+lab5+`"),
			stale: getComputedStyle(document.querySelector('tr[data-attendee="ann"] td[data-lab="`+lab5+`"]')).outlineStyle,
			size: getComputedStyle(what).fontSize, hints: document.getElementById("hints").textContent};
	})()`))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"pass": "rgb(22, 163, 74)", "fail": "rgb(220, 38, 38)", "none": "rgb(243, 244, 246)", "stale": "solid"}
	for k, v := range want {
		if colours[k] != v {
			t.Errorf("the page draws %s as %q, want %q", k, colours[k], v)
		}
	}
	if colours["hints"] != "ann: 4" {
		t.Errorf("most hints reads %q, want \"ann: 4\" (1 on lab 1, 3 on lab 5)", colours["hints"])
	}
	shoot(ctx, t, "room-before.png")

	// bob fixes lab 1: the open page shows it without a reload.
	attendeeRun(t, eps, room, "bob", Run{Lab: lab1, Step: 1, Result: ResultPass, Started: now.Add(-5 * time.Minute)}, time.Now())
	waitPage(ctx, t, liveLimit, "bob's pass of lab 1 reached the open page live", cellIs("bob", lab1, ResultPass, "passed"))
	shoot(ctx, t, "room-after.png")
}

// waitPage polls a page expression until it is true, for at most limit.
func waitPage(ctx context.Context, t testing.TB, limit time.Duration, what, expr string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingTimeout(limit))); err != nil {
		html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById("room").innerText`))
		t.Fatalf("the room page never showed that %s within %s (%v); it shows:\n%s", what, limit, err, html)
	}
}

// shoot saves a screenshot of the page when MSGLABS_SCREENSHOTS names a directory.
func shoot(ctx context.Context, t testing.TB, name string) {
	t.Helper()
	dir := os.Getenv("MSGLABS_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
