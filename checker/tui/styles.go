package tui

import "github.com/charmbracelet/lipgloss"

// Styles is every style the TUI uses, in one place. Colours are adaptive (light, dark terminals); with NO_COLOR the
// colour profile is ASCII and only the glyphs and layout remain, so nothing relies on colour alone.
type Styles struct {
	App       lipgloss.Style
	Title     lipgloss.Style
	Header    lipgloss.Style
	Dim       lipgloss.Style
	Bold      lipgloss.Style
	Selected  lipgloss.Style
	Cursor    lipgloss.Style
	Pass      lipgloss.Style
	Fail      lipgloss.Style
	Todo      lipgloss.Style
	Locked    lipgloss.Style
	Running   lipgloss.Style
	Marker    lipgloss.Style
	StepNow   lipgloss.Style
	Timeline  lipgloss.Style
	Location  lipgloss.Style
	Hint      lipgloss.Style
	Note      lipgloss.Style
	Warn      lipgloss.Style
	Error     lipgloss.Style
	OK        lipgloss.Style
	Banner    lipgloss.Style
	Box       lipgloss.Style
	Dialog    lipgloss.Style
	BarFull   lipgloss.Style
	BarEmpty  lipgloss.Style
	DiffAdd   lipgloss.Style
	DiffDel   lipgloss.Style
	DiffHunk  lipgloss.Style
	DiffFile  lipgloss.Style
	Tag       lipgloss.Style
	BigClock  lipgloss.Style
	Footer    lipgloss.Style
	SlideMeta lipgloss.Style
}

var (
	colAccent = lipgloss.AdaptiveColor{Light: "#5A3FC0", Dark: "#B4A2FF"}
	colDim    = lipgloss.AdaptiveColor{Light: "#6B6B6B", Dark: "#8C8C8C"}
	colGreen  = lipgloss.AdaptiveColor{Light: "#1A7F37", Dark: "#56D364"}
	colRed    = lipgloss.AdaptiveColor{Light: "#C62828", Dark: "#FF7B72"}
	colYellow = lipgloss.AdaptiveColor{Light: "#9A6700", Dark: "#E3B341"}
	colBlue   = lipgloss.AdaptiveColor{Light: "#0550AE", Dark: "#79C0FF"}
	colSelBg  = lipgloss.AdaptiveColor{Light: "#E8E4FA", Dark: "#2E2A45"}
	colBanner = lipgloss.AdaptiveColor{Light: "#FFE8A3", Dark: "#5C4400"}
)

// DefaultStyles are the TUI's styles.
func DefaultStyles() Styles {
	s := Styles{}
	s.App = lipgloss.NewStyle()
	s.Title = lipgloss.NewStyle().Bold(true).Foreground(colAccent)
	s.Header = lipgloss.NewStyle().Bold(true)
	s.Dim = lipgloss.NewStyle().Foreground(colDim)
	s.Bold = lipgloss.NewStyle().Bold(true)
	s.Selected = lipgloss.NewStyle().Bold(true).Background(colSelBg)
	s.Cursor = lipgloss.NewStyle().Bold(true).Foreground(colAccent)
	s.Pass = lipgloss.NewStyle().Foreground(colGreen)
	s.Fail = lipgloss.NewStyle().Foreground(colRed)
	s.Todo = lipgloss.NewStyle().Foreground(colBlue)
	s.Locked = lipgloss.NewStyle().Foreground(colDim)
	s.Running = lipgloss.NewStyle().Foreground(colYellow)
	s.Marker = lipgloss.NewStyle().Bold(true).Foreground(colRed)
	s.StepNow = lipgloss.NewStyle().Bold(true)
	s.Timeline = lipgloss.NewStyle().Foreground(colDim)
	s.Location = lipgloss.NewStyle().Bold(true).Underline(true)
	s.Hint = lipgloss.NewStyle().Foreground(colBlue)
	s.Note = lipgloss.NewStyle().Foreground(colYellow)
	s.Warn = lipgloss.NewStyle().Foreground(colYellow)
	s.Error = lipgloss.NewStyle().Bold(true).Foreground(colRed)
	s.OK = lipgloss.NewStyle().Foreground(colGreen)
	s.Banner = lipgloss.NewStyle().Bold(true).Background(colBanner).Padding(0, 1)
	s.Box = lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).BorderForeground(colDim).Padding(0, 1)
	s.Dialog = lipgloss.NewStyle().Border(lipgloss.DoubleBorder()).BorderForeground(colRed).Padding(1, 2)
	s.BarFull = lipgloss.NewStyle().Foreground(colGreen)
	s.BarEmpty = lipgloss.NewStyle().Foreground(colDim)
	s.DiffAdd = lipgloss.NewStyle().Foreground(colGreen)
	s.DiffDel = lipgloss.NewStyle().Foreground(colRed)
	s.DiffHunk = lipgloss.NewStyle().Foreground(colBlue)
	s.DiffFile = lipgloss.NewStyle().Bold(true)
	s.Tag = lipgloss.NewStyle().Bold(true).Foreground(colAccent)
	s.BigClock = lipgloss.NewStyle().Bold(true).Foreground(colAccent).Padding(0, 2)
	s.Footer = lipgloss.NewStyle().Foreground(colDim)
	s.SlideMeta = lipgloss.NewStyle().Foreground(colDim).Italic(true)
	return s
}
