package tui

import (
	"github.com/charmbracelet/glamour"
	"github.com/charmbracelet/glamour/ansi"
	"github.com/charmbracelet/glamour/styles"
	"github.com/charmbracelet/lipgloss"
)

// markdownStyle is glamour's style of that name with headings drawn as headings: glamour's own styles print a
// `## ` before every heading but the first level, which reads as raw markdown on a slide. Here no heading keeps
// its hashes. With colours they are bold (level 2 also underlined); without (the notty style writes no escape
// codes at all), levels 1 and 2 are upper case.
func markdownStyle(name string) ansi.StyleConfig {
	var cfg ansi.StyleConfig
	colour := name == "dark" || name == "light"
	switch name {
	case "dark":
		cfg = styles.DarkStyleConfig
	case "light":
		cfg = styles.LightStyleConfig
	default:
		cfg = styles.NoTTYStyleConfig
	}
	yes := true
	for _, h := range []*ansi.StyleBlock{&cfg.H2, &cfg.H3, &cfg.H4, &cfg.H5, &cfg.H6} {
		h.Prefix = ""
		if colour {
			h.Bold = &yes
		}
	}
	if colour {
		cfg.H2.Underline = &yes
		return cfg
	}
	cfg.H1.Prefix = ""
	cfg.H1.Upper, cfg.H2.Upper = &yes, &yes
	return cfg
}

// minMarkdown is the narrowest markdown is wrapped to.
const minMarkdown = 20

// markdown is a renderer for a pane w cells wide in the named style, with the terminal's colours.
func markdown(style string, w int) (*glamour.TermRenderer, error) {
	return glamour.NewTermRenderer(glamour.WithStyles(markdownStyle(style)), glamour.WithWordWrap(max(w-4, minMarkdown)),
		glamour.WithColorProfile(lipgloss.ColorProfile()))
}
