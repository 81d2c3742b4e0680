package agenda

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"

	"gopkg.in/yaml.v3"
)

// Lab is what the agenda needs to know of a lab: who it is and how long its lecture and steps take. The minutes are
// the lab's own (labs/NN-slug/lab.yaml); the agenda never repeats them.
type Lab struct {
	Number  int
	Slug    string
	Title   string
	Lecture int // minutes of the lab's deck, slides/<slug>.md
	Steps   []Step
}

// Step is one step of a lab, with the minutes an attendee works on it alone and then as a mob.
type Step struct {
	Title string
	Solo  int
	Mob   int
}

// Deck is the lab's deck name: its slug (slides/<slug>.md).
func (l Lab) Deck() string { return l.Slug }

// Minutes is the lab's whole time: its lecture and every step solo and as a mob (sync points are the agenda's).
func (l Lab) Minutes() int {
	n := l.Lecture
	for _, s := range l.Steps {
		n += s.Solo + s.Mob
	}
	return n
}

// labFolder matches a lab folder name: 05-idempotent-consumer.
var labFolder = regexp.MustCompile(`^(\d\d)-[a-z0-9-]+$`)

// labMeta is the part of a lab's lab.yaml (D1) the agenda reads.
type labMeta struct {
	Title   string `yaml:"title"`
	Lecture int    `yaml:"lecture"`
	Steps   []struct {
		Title string `yaml:"title"`
		Solo  int    `yaml:"solo"`
		Mob   int    `yaml:"mob"`
	} `yaml:"steps"`
}

// LoadLabs reads every labs/NN-slug/lab.yaml under root, in lab order. A lab folder without a lab.yaml is left out
// (Check reports it as a lab the agenda cannot time).
func LoadLabs(root string) ([]Lab, error) {
	entries, err := os.ReadDir(filepath.Join(root, "labs"))
	if err != nil {
		return nil, fmt.Errorf("read labs/: %w", err)
	}
	var out []Lab
	for _, e := range entries {
		m := labFolder.FindStringSubmatch(e.Name())
		if !e.IsDir() || m == nil {
			continue
		}
		l, err := loadLab(root, e.Name())
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		l.Number, _ = strconv.Atoi(m[1])
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out, nil
}

func loadLab(root, slug string) (Lab, error) {
	rel := "labs/" + slug + "/lab.yaml"
	data, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		return Lab{}, err
	}
	var meta labMeta
	if err := yaml.Unmarshal(data, &meta); err != nil {
		return Lab{}, fmt.Errorf("parse %s: %w", rel, err)
	}
	l := Lab{Slug: slug, Title: meta.Title, Lecture: meta.Lecture}
	for _, s := range meta.Steps {
		l.Steps = append(l.Steps, Step{Title: s.Title, Solo: s.Solo, Mob: s.Mob})
	}
	return l, nil
}
