package agenda

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// Guide is the instructor guide's path relative to the kit root. Its agenda sections are generated between markers
// (`<!-- agenda:NAME begin … -->` … `<!-- agenda:NAME end -->`); everything else in it is written by hand.
const Guide = "INSTRUCTORS.md"

// Generator is the command that rewrites the guide's generated sections.
const Generator = "go run ./checker/agenda/cmd/agenda"

// Section names: the two days' timetable, and one timing table per lab.
const daysSection = "days"

func labSection(n int) string { return fmt.Sprintf("lab-%02d", n) }

var beginMarker = regexp.MustCompile(`(?m)^<!-- agenda:([a-z0-9-]+) begin.*-->\n`)

func endMarker(name string) string { return "<!-- agenda:" + name + " end -->" }

func beginLine(name string) string {
	return fmt.Sprintf("<!-- agenda:%s begin (generated from %s and labs/*/lab.yaml by `%s`; do not edit) -->\n", name, File, Generator)
}

// Sections renders every generated section of the guide, by name.
func Sections(p *Plan, labs []Lab) map[string]string {
	out := map[string]string{daysSection: renderDays(p)}
	for _, l := range labs {
		out[labSection(l.Number)] = renderLab(p, l, len(labs))
	}
	return out
}

func renderDays(p *Plan) string {
	var b strings.Builder
	for i, d := range p.Days {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "**Day %d: %s**, %s to %s: %s of teaching, %s of breaks.\n\n", i+1, d.Title,
			Clock(d.Start), Clock(d.End()), Duration(d.Teaching), Duration(d.Breaks))
		b.WriteString("| time | min | what |\n|---|---|---|\n")
		for _, r := range d.Rows {
			fmt.Fprintf(&b, "| %s | %d | %s |\n", Clock(r.Start), r.Minutes, rowText(r))
		}
		if spare := d.Limit - d.End(); spare > 0 {
			fmt.Fprintf(&b, "| %s | %d | *buffer until %s: questions, stragglers, the room's own pace* |\n", Clock(d.End()), spare, Clock(d.Limit))
		}
	}
	return b.String()
}

func rowText(r Row) string {
	text := ""
	switch r.Kind {
	case RowLecture:
		if r.Lab != 0 {
			text = fmt.Sprintf("**Lab %d · %s**: lecture [%s](%s)", r.Lab, r.Text, r.Deck, SlidesDir+"/"+r.Deck+".md")
		} else {
			text = fmt.Sprintf("Lecture: [%s](%s)", r.Text, SlidesDir+"/"+r.Deck+".md")
		}
	case RowSolo:
		text = fmt.Sprintf("Lab %d step %d alone: %s", r.Lab, r.Step, r.Text)
	case RowMob:
		text = fmt.Sprintf("Lab %d step %d as a mob: %s", r.Lab, r.Step, turns(r))
	case RowSync:
		text = fmt.Sprintf("Lab %d sync point", r.Lab)
	case RowBreak:
		text = "*" + r.Text + "*"
	case RowActivity:
		text = r.Text
	}
	if r.Note != "" {
		text += " (" + r.Note + ")"
	}
	return text
}

// turns describes a mob row's rotation: "driver rotates every 5 min (2 turns)"; a block no longer than one
// rotation has one driver: "one driver, 3 min".
func turns(r Row) string {
	n := r.Minutes / max(r.Rotation, 1)
	if n <= 1 {
		return fmt.Sprintf("one driver, %d min", r.Minutes)
	}
	return fmt.Sprintf("driver rotates every %d min (%d turns)", r.Rotation, n)
}

func renderLab(p *Plan, l Lab, labCount int) string {
	slots := p.LabSlots(l.Number)
	if len(slots) == 0 {
		return "*Not in the agenda.*\n"
	}
	var b strings.Builder
	for i, s := range slots {
		if i > 0 {
			b.WriteString("\n")
		}
		minutes := s.End - s.Start
		fmt.Fprintf(&b, "**Day %d, %s to %s** (%d min)\n\n", s.Day, Clock(s.Start), Clock(s.End), minutes)
		b.WriteString("| part | what | min |\n|---|---|---|\n")
		for _, r := range s.Rows {
			fmt.Fprintf(&b, "| %s | %s | %d |\n", labPart(r), labWhat(r, l, labCount), r.Minutes)
		}
	}
	return b.String()
}

func labPart(r Row) string {
	switch r.Kind {
	case RowLecture:
		return "lecture"
	case RowSolo:
		return fmt.Sprintf("step %d alone", r.Step)
	case RowMob:
		return fmt.Sprintf("step %d as a mob", r.Step)
	}
	return "sync point"
}

func labWhat(r Row, l Lab, labCount int) string {
	switch r.Kind {
	case RowLecture:
		return fmt.Sprintf("[%s](%s)", r.Deck, SlidesDir+"/"+r.Deck+".md")
	case RowSolo:
		return r.Text
	case RowMob:
		return turns(r)
	}
	last := r.Steps[len(r.Steps)-1]
	if last < len(l.Steps) {
		return fmt.Sprintf("step %d green on the mobs' screens; walk the diff (`bin/checker solution %d --diff`)", last, l.Number)
	}
	if l.Number < labCount {
		return fmt.Sprintf("lab %d green on the mobs' screens; behind: `bin/checker catch-up %d`", l.Number, l.Number+1)
	}
	return fmt.Sprintf("lab %d green on the mobs' screens; walk the diff (`bin/checker solution %d --diff`)", l.Number, l.Number)
}

// Splice replaces the inside of every generated section of doc that sections has. It returns the new text and the
// names of the sections the document lacks markers for.
func Splice(doc string, sections map[string]string) (string, []string) {
	seen := map[string]bool{}
	var out strings.Builder
	rest := doc
	for {
		loc := beginMarker.FindStringSubmatchIndex(rest)
		if loc == nil {
			out.WriteString(rest)
			break
		}
		name := rest[loc[2]:loc[3]]
		end := strings.Index(rest[loc[1]:], endMarker(name))
		content, ok := sections[name]
		if end < 0 || !ok {
			out.WriteString(rest[:loc[1]])
			rest = rest[loc[1]:]
			continue
		}
		seen[name] = true
		out.WriteString(rest[:loc[0]])
		out.WriteString(beginLine(name))
		out.WriteString(content)
		rest = rest[loc[1]+end:]
	}
	var missing []string
	for _, name := range slices.Sorted(maps.Keys(sections)) {
		if !seen[name] {
			missing = append(missing, name)
		}
	}
	return out.String(), missing
}

// Write rewrites the generated sections of the guide under root from the agenda and the labs. It returns the names
// of sections the guide has no markers for (nothing is written for them).
func Write(root string, labs []Lab) ([]string, error) {
	a, err := Load(root)
	if err != nil {
		return nil, err
	}
	plan, _ := Build(a, labs, deckTitles(root))
	path := filepath.Join(root, Guide)
	doc, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", Guide, err)
	}
	text, missing := Splice(string(doc), Sections(plan, labs))
	if text == string(doc) {
		return missing, nil
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return nil, fmt.Errorf("write %s: %w", Guide, err)
	}
	return missing, nil
}

// deckTitles returns the titles of the decks under root, by name; decks that cannot be read are left out.
func deckTitles(root string) map[string]string {
	names, _ := DeckNames(root)
	out := map[string]string{}
	for _, n := range names {
		if d, err := LoadDeck(root, n); err == nil {
			out[n] = d.Title
		}
	}
	return out
}
