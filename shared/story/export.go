package story

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
)

// Export is one test's timeline as the checker's diagrams read it: the harness writes it to
// $MSGLABS_RUN_DIR/events/<Test>.json when the test ends. Every field is always present.
type Export struct {
	Test     string   `json:"test"`
	Lab      string   `json:"lab"`      // the lab folder, "05-idempotent-consumer"; "" outside a lab
	Failed   bool     `json:"failed"`   // the test failed
	Marker   Marker   `json:"marker"`   // the failure's marker; "" when it passed or failed without one
	Headline string   `json:"headline"` // the sentence after the marker
	Actors   []string `json:"actors"`   // "test" first, then every actor in order of its first event
	Events   []Event  `json:"events"`
}

// Event is one timeline entry in an Export.
type Event struct {
	AtMS        float64 `json:"at_ms"` // milliseconds since the test's timeline started, to 0.1 ms
	Actor       string  `json:"actor"`
	Kind        Kind    `json:"kind"`
	Message     string  `json:"message"`     // message id, or ""
	Peer        string  `json:"peer"`        // queue/exchange short name or another actor, or ""
	Redelivered bool    `json:"redelivered"` // a delivery the broker marked as redelivered
	Text        string  `json:"text"`        // the timeline line
}

// TestActor is the actor a test's own lines and its verdict are recorded as.
const TestActor = "test"

// NewExport builds a test's Export from its timeline entries.
func NewExport(test, lab string, failed bool, m Marker, headline string, entries []Entry) Export {
	x := Export{Test: test, Lab: lab, Failed: failed, Marker: m, Headline: headline,
		Actors: []string{TestActor}, Events: make([]Event, 0, len(entries))}
	seen := map[string]bool{TestActor: true}
	for _, e := range entries {
		if !seen[e.Actor] {
			seen[e.Actor] = true
			x.Actors = append(x.Actors, e.Actor)
		}
		kind := e.Kind
		if kind == "" {
			kind = Log
		}
		x.Events = append(x.Events, Event{
			AtMS:  math.Round(float64(e.At.Microseconds())/100) / 10,
			Actor: e.Actor, Kind: kind, Message: e.Message, Peer: e.Peer, Redelivered: e.Redelivered, Text: e.Text,
		})
	}
	return x
}

// ReadExport decodes an Export written by the harness.
func ReadExport(r io.Reader) (Export, error) {
	var x Export
	if err := json.NewDecoder(r).Decode(&x); err != nil {
		return Export{}, fmt.Errorf("read events: %w", err)
	}
	return x, nil
}
