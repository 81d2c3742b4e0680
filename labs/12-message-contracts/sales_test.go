// Your test: step 3 of lab 12. Write it here, in this file (you may add helpers of your own to it). The checker runs
// it twice: on Sales as shipped (sales.go), where it must pass, and on Sales' release candidate, which has a bug the
// kit keeps in testdata/planted/, where it must fail with LOST.

package contracts

import "testing"

// TestSalesPublishesTheContract drives Sales through Place, in isolation from the rest of the shop, and checks what
// it publishes against the contract of OrderPlaced v2.
func TestSalesPublishesTheContract(t *testing.T) {
	// TODO(lab): step 3. Write the test Sales' team should have had: it passes on Sales as it is, and catches the
	// release candidate that made Billing drop orders. What is the contract of OrderPlaced v2, and what must a
	// producer's test look at to hold Sales to it?
}
