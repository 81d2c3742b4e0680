package tui

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/cursor"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"msglabs/checker/mob"
)

// mobTickMsg is the mob clock's once-a-second tick.
type mobTickMsg struct{}

// mobTickEvery is how often the countdown refreshes and the rotation is checked.
const mobTickEvery = time.Second

// mobModel is the mob-programming timer: the driver, the navigator, a countdown, and a bell and a banner at each
// rotation. The rotation lives in .msglabs/mob.json, so it survives a restart.
type mobModel struct {
	c       *common
	path    string
	state   mob.State
	active  bool
	ticking bool
	err     string

	form    bool
	members textinput.Model
	minutes textinput.Model
	focus   int
}

func newMob(c *common) *mobModel {
	mm := &mobModel{c: c, path: filepath.Join(c.kit.Root, filepath.FromSlash(mob.File))}
	mm.members = textinput.New()
	mm.members.Placeholder = "ann bob cem"
	mm.members.Prompt = "members: "
	mm.members.CharLimit = 200
	mm.minutes = textinput.New()
	mm.minutes.Placeholder = strconv.Itoa(mob.DefaultMinutes)
	mm.minutes.Prompt = "minutes per turn: "
	mm.minutes.CharLimit = 3
	mm.members.Cursor.SetMode(cursor.CursorStatic)
	mm.minutes.Cursor.SetMode(cursor.CursorStatic)
	if s, ok := mob.Load(mm.path); ok {
		mm.state, mm.active = s, true
	}
	return mm
}

// mobOpenMsg shows the mob timer (or its form, when there is no rotation yet).
type mobOpenMsg struct{}

// Typing reports whether the setup form has the keyboard.
func (mm *mobModel) Typing() bool { return mm.form }

func (mm *mobModel) Update(msg tea.Msg) (screen, tea.Cmd) {
	switch msg := msg.(type) {
	case mobOpenMsg:
		return mm, mm.open()
	case mobTickMsg:
		return mm, mm.onTick()
	case tea.KeyMsg:
		if mm.form {
			return mm, mm.formKey(msg)
		}
		return mm, mm.key(msg)
	}
	return mm, nil
}

// tick keeps the clock going while a rotation is active (one tick chain at a time).
func (mm *mobModel) tick() tea.Cmd {
	if !mm.active || mm.ticking || mm.c.opts.Static {
		return nil
	}
	mm.ticking = true
	return tea.Tick(mobTickEvery, func(time.Time) tea.Msg { return mobTickMsg{} })
}

// onTick checks for a rotation, and announces it with a banner and the bell.
func (mm *mobModel) onTick() tea.Cmd {
	mm.ticking = false
	if !mm.active {
		return nil
	}
	if !mm.state.Advance(mm.c.now()) {
		return mm.tick()
	}
	mm.save()
	return tea.Batch(mm.rotated(), mm.tick())
}

// rotated is the banner of a rotation.
func (mm *mobModel) rotated() tea.Cmd {
	at := mm.state.At(mm.c.now())
	text := fmt.Sprintf("⟳ ROTATE: %s drives now, %s navigates", at.Driver, at.Navigator)
	return func() tea.Msg { return bannerMsg{text: text} }
}

// open shows the timer, or the setup form when there is no rotation yet.
func (mm *mobModel) open() tea.Cmd {
	if !mm.active {
		return mm.startForm()
	}
	return mm.tick()
}

func (mm *mobModel) startForm() tea.Cmd {
	mm.form, mm.focus, mm.err = true, 0, ""
	if mm.active {
		mm.members.SetValue(strings.Join(mm.state.Members, " "))
		mm.minutes.SetValue(strconv.Itoa(mm.state.Minutes))
	}
	mm.minutes.Blur()
	return mm.members.Focus()
}

func (mm *mobModel) formKey(msg tea.KeyMsg) tea.Cmd {
	k := mm.c.keys
	switch {
	case key.Matches(msg, k.Cancel):
		mm.form = false
		if !mm.active {
			return mm.c.back()
		}
		return nil
	case key.Matches(msg, k.NextField):
		mm.focus = 1 - mm.focus
		if mm.focus == 0 {
			mm.minutes.Blur()
			return mm.members.Focus()
		}
		mm.members.Blur()
		return mm.minutes.Focus()
	case key.Matches(msg, k.Submit):
		return mm.submit()
	}
	var cmd tea.Cmd
	if mm.focus == 0 {
		mm.members, cmd = mm.members.Update(msg)
	} else {
		mm.minutes, cmd = mm.minutes.Update(msg)
	}
	return cmd
}

func (mm *mobModel) key(msg tea.KeyMsg) tea.Cmd {
	k := mm.c.keys
	switch {
	case key.Matches(msg, k.Back):
		return mm.c.back()
	case key.Matches(msg, k.Skip):
		mm.state.Skip(mm.c.now())
		mm.save()
		return mm.rotated()
	case key.Matches(msg, k.Edit):
		return mm.startForm()
	case key.Matches(msg, k.EndMob):
		mm.active = false
		if err := mob.Remove(mm.path); err != nil {
			mm.err = err.Error()
		}
		return tea.Batch(mm.c.back(), flash("mob rotation ended"), func() tea.Msg { return bannerMsg{} })
	}
	return nil
}

// submit starts a rotation from the form: the first member drives now.
func (mm *mobModel) submit() tea.Cmd {
	minutes := mob.DefaultMinutes
	if v := strings.TrimSpace(mm.minutes.Value()); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			mm.err = fmt.Sprintf("%q is not a number of minutes", v)
			return nil
		}
		minutes = n
	}
	s, err := mob.New([]string{mm.members.Value()}, minutes, mm.c.now())
	if err != nil {
		mm.err = err.Error()
		return nil
	}
	mm.state, mm.active, mm.form, mm.err = s, true, false, ""
	mm.save()
	return mm.tick()
}

func (mm *mobModel) save() {
	if err := mob.Save(mm.path, mm.state); err != nil {
		mm.err = err.Error()
	}
}

// headerTag is the mob's corner of the header: who drives and how long is left.
func (mm *mobModel) headerTag() string {
	if !mm.active {
		return ""
	}
	at := mm.state.At(mm.c.now())
	return mm.c.st.Tag.Render(fmt.Sprintf("[mob: %s drives %s]", at.Driver, mob.Clock(at.Left)))
}

func (mm *mobModel) View() string {
	c := mm.c
	st := c.st
	var b strings.Builder
	b.WriteString(st.Title.Render("mob programming") + "\n\n")
	if mm.form {
		b.WriteString("Who is in the mob? The first name drives first; the next one navigates.\n\n")
		b.WriteString("  " + mm.members.View() + "\n")
		b.WriteString("  " + mm.minutes.View() + "\n\n")
	} else if mm.active {
		at := mm.state.At(c.now())
		b.WriteString(fmt.Sprintf("  driver     %s\n", st.Bold.Render(at.Driver)))
		b.WriteString(fmt.Sprintf("  navigator  %s\n\n", st.Bold.Render(at.Navigator)))
		b.WriteString(st.BigClock.Render(mob.Clock(at.Left)+" left") + "\n")
		turn := mm.state.Turn()
		done := int((turn - at.Left) * 30 / turn)
		b.WriteString("  " + bar(st, done, 30, 30) + "\n\n")
		order := make([]string, len(mm.state.Members))
		for i, name := range mm.state.Members {
			if i == at.Index {
				name = st.Bold.Render("[" + name + "]")
			}
			order[i] = name
		}
		b.WriteString(st.Dim.Render(fmt.Sprintf("  %d-minute turns · order: ", mm.state.Minutes)) + strings.Join(order, " → ") + "\n")
		b.WriteString(st.Dim.Render("  the rotation is kept in "+mob.File+": it survives a restart") + "\n")
	}
	if mm.err != "" {
		b.WriteString("\n" + st.Error.Render(mm.err) + "\n")
	}
	return b.String()
}

func (mm *mobModel) ShortHelp() []key.Binding {
	k := mm.c.keys
	if mm.form {
		return []key.Binding{k.Submit, k.NextField, k.Cancel}
	}
	return []key.Binding{k.Skip, k.Edit, k.EndMob, k.Back}
}
