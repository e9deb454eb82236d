package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Error is one problem with the settings, located as precisely as known.
type Error struct {
	File   string // config file name, or EmbeddedSource
	Line   int    // 1-based; 0 when the value did not come from the file
	Column int    // 1-based; set for TOML syntax errors
	Env    string // environment variable the value came from, if any
	Key    string // e.g. "discord.timeout", "kick.channels[0].slug"
	Value  string // the value as TOML (secrets redacted); "" when not relevant
	Msg    string
}

// Error renders "file:line: key = value: message" (or "$ENV: key: …").
func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.Env != "":
		b.WriteString(e.Env)
	case e.Line > 0:
		b.WriteString(e.File)
		b.WriteString(":")
		b.WriteString(strconv.Itoa(e.Line))
		if e.Column > 0 {
			b.WriteString(":")
			b.WriteString(strconv.Itoa(e.Column))
		}
	default:
		b.WriteString(e.File)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		if e.Value != "" {
			b.WriteString(" = ")
			b.WriteString(e.Value)
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors is every problem found, in file order. `kickwatch check` prints
// them all.
type Errors []*Error

// Error joins the problems, one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap exposes each problem to errors.As.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// err returns es as an error, nil when empty, sorted by line (environment
// and default values last, in the order found).
func (es Errors) err() error {
	if len(es) == 0 {
		return nil
	}
	sort.SliceStable(es, func(i, j int) bool {
		li, lj := es[i].Line, es[j].Line
		if li == 0 || lj == 0 {
			return li != 0 && lj == 0
		}
		return li < lj
	})
	return es
}

// Warning is something that works but is probably not what the user wants.
type Warning struct {
	Key string // the key concerned; "" for the file as a whole
	Msg string
}

// String renders "key: message".
func (w Warning) String() string {
	if w.Key == "" {
		return w.Msg
	}
	return w.Key + ": " + w.Msg
}

// quote renders a string value as TOML would show it.
func quote(s string) string {
	const max = 80
	if len(s) > max {
		s = s[:max] + "…"
	}
	return strconv.Quote(s)
}

// render shows a value for an error message.
func render(v any) string {
	switch x := v.(type) {
	case string:
		return quote(x)
	case Transport, Synchronous, LogLevel, LogFormat, ConsoleMode:
		return quote(fmt.Sprint(x))
	case Duration:
		return quote(x.String())
	default:
		return fmt.Sprint(x)
	}
}
