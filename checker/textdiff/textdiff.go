// Package textdiff renders unified diffs of text files.
package textdiff

import udiff "github.com/aymanbagabas/go-udiff"

// Unified returns the unified diff turning old into new, with 3 lines of context, or "" when they are equal.
func Unified(oldName, newName, old, new string) string {
	if old == new {
		return ""
	}
	return udiff.Unified(oldName, newName, old, new)
}
