// Package plain is a throw-away lab of one step.
package plain

// Fixed reports whether the lab is solved.
func Fixed() bool {
	// TODO(lab): fix it.
	return false
}
