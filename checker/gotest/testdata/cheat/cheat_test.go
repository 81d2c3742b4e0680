package cheat

import "testing"

func TestPasses(t *testing.T) {}

func TestFails(t *testing.T) { t.Fatal("LOST: order o-1 was never stored") }
