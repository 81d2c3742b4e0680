package textdiff

import "testing"

func TestUnified(t *testing.T) {
	old := "package acks\n\nfunc handle() {\n\t// TODO(lab): ack after work\n\tack()\n\twork()\n}\n"
	new := "package acks\n\nfunc handle() {\n\twork()\n\tack()\n}\n"
	want := `--- a/acks.go
+++ b/acks.go
@@ -1,7 +1,6 @@
 package acks
 
 func handle() {
-	// TODO(lab): ack after work
-	ack()
 	work()
+	ack()
 }
`
	if got := Unified("a/acks.go", "b/acks.go", old, new); got != want {
		t.Fatalf("diff:\n%s\nwant:\n%s", got, want)
	}
	if got := Unified("a", "b", old, old); got != "" {
		t.Fatalf("equal files give %q, want empty", got)
	}
}
