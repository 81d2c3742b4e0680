package throughput

import (
	"strings"
	"testing"
)

const sample = `goos: linux
goarch: amd64
pkg: msglabs/shared/bench
cpu: Intel(R) Xeon(R) Processor
BenchmarkRawPublishConsume-2   	       1	 880534175 ns/op	     20000 msgs/s
BenchmarkRawPublishConsume-2   	       1	 880534175 ns/op	     22000 msgs/s
BenchmarkRawDrain-2            	       1	 374629070 ns/op	     30000 msgs/s
PASS
ok  	msglabs/shared/bench	2.061s
goos: linux
pkg: msglabs/labs/06-transactional-outbox
BenchmarkRelay-2   	       1	 1000 ns/op	     16800 msgs/s
pkg: msglabs/labs/07-competing-consumers
BenchmarkDrain-2   	       1	 1000 ns/op	     27000 msgs/s
`

func TestParseAndReport(t *testing.T) {
	rates, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if got := rates[BaselinePackage]["BenchmarkRawPublishConsume"]; got != 21000 {
		t.Fatalf("mean of two runs = %v, want 21000", got)
	}
	out, complete := Report(rates)
	if !complete {
		t.Fatalf("report incomplete:\n%s", out)
	}
	for _, want := range []string{"16800     0.80", "27000     0.90", "21000     1.00"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	delete(rates["msglabs/labs/06-transactional-outbox"], "BenchmarkRelay")
	if out, complete := Report(rates); complete || !strings.Contains(out, "missing") {
		t.Fatalf("a missing row must be reported:\n%s", out)
	}
}
