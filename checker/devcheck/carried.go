package devcheck

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path"
	"slices"
	"strings"

	"msglabs/checker/lab"
)

// Lesson is something a lab fixes that every later lab's starter must keep: the kit's rule that a starter already
// contains what earlier labs fixed, so an attendee stuck on lab 6 can still do lab 7, and no later starter teaches
// the opposite of an earlier lab by example.
type Lesson struct {
	From int    // the lab that fixes it; the labs after it keep it
	In   []int  // only these later labs (nil: every later lab)
	What string // the lesson, as the problem says it
	Fix  string
	// Breaks reports whether a call in a later lab's code undoes the lesson (nil: the lesson is a text the code
	// must contain, Needs).
	Breaks func(call *ast.CallExpr) bool
	Needs  string
}

// exemptMark, in a comment on a call's line or the line above it, keeps a call that breaks a lesson on purpose (a
// stand-in for a third party, say), with the reason: `// exempt(lab 4): a carrier's reply may be lost; the round's
// deadline is for that`.
const exemptMark = "exempt(lab "

// Lessons are the lessons the kit's starters carry forward.
var Lessons = []Lesson{
	{From: 3, What: "consumes with autoAck true (lab 3: ack after the work)", Breaks: autoAckTrue,
		Fix: "consume with autoAck false and ack once the work is done, as lab 3's solution does"},
	{From: 4, What: "publishes without waiting for a confirm (lab 4: publisher confirms)", Breaks: callNamed("PublishWithContext"),
		Fix: "put the channel in confirm mode and use PublishWithDeferredConfirmWithContext, as lab 4's solution does"},
	{From: 8, What: "sleeps in-process (lab 8: the broker holds the wait, not the handler)", Breaks: isSleep,
		Fix: "hold the wait in the broker (a delay queue with a TTL) or wait for a condition with a deadline"},
	{From: 8, In: []int{9}, What: "has no delay queues (lab 9 starts from lab 8's broker-held retries)",
		Needs: "x-dead-letter-exchange", Fix: "keep lab 8's retry topology in the starter's queue declarations"},
}

func autoAckTrue(call *ast.CallExpr) bool {
	arg := -1
	switch methodName(call) {
	case "Consume":
		arg = 2 // queue, consumer, autoAck, …
	case "ConsumeWithContext":
		arg = 3 // ctx, queue, consumer, autoAck, …
	}
	if arg < 0 || len(call.Args) <= arg {
		return false
	}
	id, ok := call.Args[arg].(*ast.Ident)
	return ok && id.Name == "true"
}

func callNamed(name string) func(*ast.CallExpr) bool {
	return func(call *ast.CallExpr) bool { return methodName(call) == name }
}

func isSleep(call *ast.CallExpr) bool {
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	id, ok := sel.X.(*ast.Ident)
	return ok && id.Name == "time" && sel.Sel.Name == "Sleep"
}

func methodName(call *ast.CallExpr) string {
	if sel, ok := call.Fun.(*ast.SelectorExpr); ok {
		return sel.Sel.Name
	}
	return ""
}

func (o Options) lessons() []Lesson {
	if o.Lessons != nil {
		return o.Lessons
	}
	return Lessons
}

// carried checks that lab l's shipped code keeps every lesson of the labs before it.
func (k *checker) carried(l lab.Lab) {
	files := k.codeFiles(l)
	for _, ls := range k.o.lessons() {
		if l.Number <= ls.From || (ls.In != nil && !slices.Contains(ls.In, l.Number)) {
			continue
		}
		if ls.Breaks == nil {
			k.needs(l, ls, files)
			continue
		}
		for f, data := range files {
			k.breaks(l, ls, f, data)
		}
	}
}

// codeFiles are the lab's Go files that are not tests, as shipped.
func (k *checker) codeFiles(l lab.Lab) map[string][]byte {
	entries, _ := os.ReadDir(k.c.Path(l.Dir()))
	out := map[string][]byte{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		if data, err := k.shipped(l, name); err == nil {
			out[name] = data
		} else if data, ok := k.read(path.Join(l.Dir(), name)); ok { // not committed yet: a maintainer's new file
			out[name] = data
		}
	}
	return out
}

func (k *checker) needs(l lab.Lab, ls Lesson, files map[string][]byte) {
	for _, data := range files {
		if bytes.Contains(data, []byte(ls.Needs)) {
			return
		}
	}
	k.add(RuleCarried, l.Dir(), ls.Fix, "the starter %s", ls.What)
}

func (k *checker) breaks(l lab.Lab, ls Lesson, f string, data []byte) {
	rel := path.Join(l.Dir(), f)
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, rel, data, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		return // the fmt and vet rules say why
	}
	exempt := exemptLines(fset, file, ls.From)
	ast.Inspect(file, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || !ls.Breaks(call) {
			return true
		}
		line := fset.Position(call.Pos()).Line
		if !exempt[line] {
			k.add(RuleCarried, fmt.Sprintf("%s:%d", rel, line),
				ls.Fix+fmt.Sprintf(" (or say why not: // %s%d): <reason>)", exemptMark, ls.From), "the starter %s", ls.What)
		}
		return true
	})
}

// exemptLines are the lines an exempt(lab N) comment covers: its own and the next.
func exemptLines(fset *token.FileSet, f *ast.File, from int) map[int]bool {
	out := map[int]bool{}
	mark := fmt.Sprintf("%s%d)", exemptMark, from)
	for _, g := range f.Comments {
		for _, c := range g.List {
			if strings.Contains(c.Text, mark) {
				line := fset.Position(c.End()).Line
				out[line], out[line+1] = true, true
			}
		}
	}
	return out
}
