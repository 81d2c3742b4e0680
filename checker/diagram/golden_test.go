package diagram

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/charmbracelet/x/exp/golden"
)

func load(t testing.TB, name string) Run {
	t.Helper()
	r, err := Load(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSVGGolden(t *testing.T) {
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := SVG(&buf, Build(load(t, name))); err != nil {
				t.Fatal(err)
			}
			golden.RequireEqual(t, buf.Bytes())
		})
	}
}

var fixtures = []string{"lab05-redelivery", "synthetic-every-kind", "lab04-passed"}

func TestTerminalGolden(t *testing.T) {
	cases := []struct {
		name  string
		width int
		color bool
	}{
		{"lab05-redelivery", 120, false},
		{"lab05-redelivery", 80, false},
		{"lab05-redelivery", 60, false},
		{"lab05-redelivery", 100, false},
		{"lab05-redelivery", 100, true},
		{"synthetic-every-kind", 120, false},
		{"lab04-passed", 100, false},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s-%d-color=%v", c.name, c.width, c.color), func(t *testing.T) {
			f := Terminal(Build(load(t, c.name)), Options{Width: c.width, Color: c.color})
			golden.RequireEqual(t, []byte(strings.Join(f.Lines(), "\n")+"\n"))
		})
	}
}
