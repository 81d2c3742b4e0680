// Package textdiff renders unified diffs of text files, line by line.
package textdiff

import (
	udiff "github.com/aymanbagabas/go-udiff"
	"github.com/aymanbagabas/go-udiff/myers"
)

// Unified returns the unified diff turning old into new, with 3 lines of context, or "" when they are equal.
func Unified(oldName, newName, old, new string) string {
	if old == new {
		return ""
	}
	out, err := udiff.ToUnified(oldName, newName, old, myers.ComputeEdits(old, new), udiff.DefaultContextLines)
	if err != nil {
		// The edits come from the same two texts, so they are consistent; fall back to the character diff anyway.
		return udiff.Unified(oldName, newName, old, new)
	}
	return out
}
