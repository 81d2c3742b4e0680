// Package lab is a throw-away lab for the runner's tests: each function misbehaves the way attendee code can.
package lab

import (
	"fmt"
	"net/http"
	"os"
	"strings"
)

// Wait blocks until stop is closed: a handler that never returns when nobody closes it.
func Wait(stop <-chan struct{}) {
	<-stop
}

// Spin never returns and never blocks.
func Spin() int {
	n := 0
	for {
		n++
	}
}

// Exit ends the process with the given status.
func Exit(code int) {
	os.Exit(code)
}

// Panic writes to a nil map.
func Panic() {
	var m map[string]int
	m["x"] = 1
}

// LongLine prints n bytes without a newline.
func LongLine(n int) {
	fmt.Print(strings.Repeat("x", n))
}

// Handler accepts an order once it is confirmed: a confirmation that never comes hangs the request.
type Handler struct{ Confirmed chan struct{} }

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	<-h.Confirmed
	w.WriteHeader(http.StatusAccepted)
}
