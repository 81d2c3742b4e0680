// Command catalog writes CATALOG.md from the lab's contract registry. Run it with
// `go generate ./labs/12-message-contracts/` (go generate runs it in the lab's folder).
package main

import (
	"log"
	"os"

	contracts "msglabs/labs/12-message-contracts"
)

func main() {
	if err := os.WriteFile("CATALOG.md", contracts.CatalogPage(), 0o644); err != nil {
		log.Fatalf("write catalog: %v", err)
	}
}
