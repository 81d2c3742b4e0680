// Command agenda rewrites the generated agenda sections of INSTRUCTORS.md from slides/agenda.yaml and the labs'
// lab.yaml, then checks the kit's teaching material (agenda.Check). Run it from the kit root:
//
//	go run ./checker/agenda/cmd/agenda          # rewrite the guide's agenda, then check
//	go run ./checker/agenda/cmd/agenda -check   # only check; exit status 1 when anything disagrees
package main

import (
	"flag"
	"fmt"
	"os"

	"msglabs/checker/agenda"
)

func main() {
	checkOnly := flag.Bool("check", false, "only check, do not rewrite "+agenda.Guide)
	root := flag.String("root", ".", "the kit root")
	flag.Parse()
	os.Exit(run(*root, *checkOnly))
}

func run(root string, checkOnly bool) int {
	labs, err := agenda.LoadLabs(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "agenda:", err)
		return 2
	}
	if !checkOnly {
		if _, err := agenda.Write(root, labs); err != nil {
			fmt.Fprintln(os.Stderr, "agenda:", err)
			return 2
		}
	}
	probs := agenda.Check(root, labs)
	for _, p := range probs {
		fmt.Fprintln(os.Stderr, p)
	}
	if len(probs) > 0 {
		fmt.Fprintf(os.Stderr, "agenda: %d problem(s)\n", len(probs))
		return 1
	}
	fmt.Printf("agenda: %s, %s and every deck agree with the labs\n", agenda.File, agenda.Guide)
	return 0
}
