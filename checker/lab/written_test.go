package lab

import (
	"strings"
	"testing"

	"msglabs/checker/kittest"
)

func TestAWrittenStepLoadsWithItsTestInTheStep(t *testing.T) {
	root := kittest.NewWritten(t)
	c, err := Load(root)
	if err != nil {
		t.Fatal(err)
	}
	l, err := c.Lab(4)
	if err != nil {
		t.Fatal(err)
	}
	w := l.Written()
	if len(w) != 1 || w[2].Test != "TestMine" || w[2].Planted != "off-by-ten" || w[2].Marker != "LOST" {
		t.Fatalf("Written = %+v", w)
	}
	if got := strings.Join(l.Visible(), ","); got != "TestFirst,TestMine" || l.StepOf("TestMine") != 2 {
		t.Fatalf("Visible = %q, StepOf(TestMine) = %d: the written test is a visible test of its step", got, l.StepOf("TestMine"))
	}
	if _, failing := l.FailingMarker("TestMine"); failing {
		t.Fatal("the written test is not a failing test of the kit's")
	}
}

func TestAWrittenStepIsValidated(t *testing.T) {
	cases := []struct{ name, from, to, want string }{
		{"a test file edited without a written step", "    written:\n      test: TestMine\n      marker: LOST\n      planted: off-by-ten\n      bug: the discount is a hundredth instead of a tenth\n",
			"    failing: [{test: TestMine, marker: LOST}]\n", `edit entry "mine_test.go" is a test file: only a lab with a ` + "`written:`" + ` step`},
		{"no bug", "      bug: the discount is a hundredth instead of a tenth\n", "", "step 2: written bug is missing"},
		{"a planted name that is no folder name", "planted: off-by-ten", "planted: Off By Ten", "step 2: written planted must be lower-case words"},
		{"an unknown marker", "      marker: LOST\n      planted", "      marker: GONE\n      planted", `step 2: written TestMine has unknown marker "GONE"`},
		{"the written test listed twice", "    edit: [work.go]\n    failing:\n      - test: TestFirst", "    edit: [work.go]\n    failing:\n      - test: TestMine",
			"step 2 written: TestMine is already listed in step 1 failing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if !strings.Contains(kittest.WrittenMeta, c.from) {
				t.Fatalf("the sample lab.yaml has no %q", c.from)
			}
			l, err := Parse([]byte(strings.Replace(kittest.WrittenMeta, c.from, c.to, 1)))
			if err != nil {
				t.Fatal(err)
			}
			if probs := strings.Join(Validate(l), "\n"); !strings.Contains(probs, c.want) {
				t.Fatalf("problems:\n%s\nwant one containing %q", probs, c.want)
			}
		})
	}
}
