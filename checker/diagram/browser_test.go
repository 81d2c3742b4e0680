package diagram

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"msglabs/checker/diagram/headless"
)

// svgCheck runs in Chromium on a loaded diagram and lists what a reader would see wrong: text outside the picture,
// an arrow's label wider than its arrow, a note wider than its background box (the layout guesses text widths from
// the monospace font; this measures them).
const svgCheck = `(() => {
  const vb = document.documentElement.viewBox.baseVal;
  const problems = [];
  const texts = [...document.querySelectorAll('text')];
  for (const t of texts) {
    const b = t.getBBox();
    if (b.x < 0 || b.y < 0 || b.x + b.width > vb.width + 0.5 || b.y + b.height > vb.height + 0.5)
      problems.push('outside the picture: ' + t.textContent);
  }
  for (const g of document.querySelectorAll('g.row')) {
    const line = g.querySelector('line.arrow'), lbl = g.querySelector('text.lbl');
    if (line && lbl) {
      const b = lbl.getBBox();
      const lo = Math.min(line.x1.baseVal.value, line.x2.baseVal.value);
      const hi = Math.max(line.x1.baseVal.value, line.x2.baseVal.value);
      if (b.x < lo - 2 || b.x + b.width > hi + 2) problems.push('label wider than its arrow: ' + lbl.textContent);
    }
    const bg = g.querySelector('rect.notebg'), note = g.querySelector('text.note, text.marktext');
    if (bg && note) {
      const b = note.getBBox(), r = bg.getBBox();
      if (b.x < r.x - 1 || b.x + b.width > r.x + r.width + 1) problems.push('note wider than its box: ' + note.textContent);
    }
  }
  return {problems: problems, texts: texts.length, font: getComputedStyle(texts[0]).fontFamily};
})()`

type svgReport struct {
	Problems []string `json:"problems"`
	Texts    int      `json:"texts"`
	Font     string   `json:"font"`
}

// TestSVGInChromium loads each fixture's SVG in headless Chromium and measures it. With MSGLABS_SCREENSHOTS=DIR it
// also leaves a PNG of each in DIR, to look at.
func TestSVGInChromium(t *testing.T) {
	ctx := headless.New(t, 1600, 1000)
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := SVG(&buf, Build(load(t, name))); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(t.TempDir(), name+".svg")
			if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := chromedp.Do(ctx, chromedp.Navigate("file://"+file)); err != nil {
				t.Fatalf("load %s in Chromium: %v", file, err)
			}
			rep, err := chromedp.Run(ctx, chromedp.Evaluate[svgReport](svgCheck))
			if err != nil {
				t.Fatalf("measure the SVG in Chromium: %v", err)
			}
			if rep.Texts == 0 {
				t.Fatalf("Chromium shows no text in the %s diagram: the SVG did not load as a picture", name)
			}
			if len(rep.Problems) > 0 {
				t.Errorf("the %s diagram, measured in Chromium with font %s, has %d problem(s):\n  %s",
					name, rep.Font, len(rep.Problems), strings.Join(rep.Problems, "\n  "))
			}
			if dir := os.Getenv("MSGLABS_SCREENSHOTS"); dir != "" {
				png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
				if err != nil {
					t.Fatalf("screenshot: %v", err)
				}
				if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
