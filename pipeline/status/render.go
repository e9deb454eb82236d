package status

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits on what one page shows.
const (
	// MaxMentions is how many recent mentions the page lists.
	MaxMentions = 50
	// MaxTextRunes cuts a chat message (Kick allows 500 characters).
	MaxTextRunes = 300
	// maxNameRunes cuts a sender, channel or sink name.
	maxNameRunes = 64
	// maxErrorRunes cuts an error text.
	maxErrorRunes = 300
	// maxRows caps every other list (sources, channels, sinks, breakers, warnings).
	maxRows = 200
	// loadTimeout bounds building a Page.
	loadTimeout = 5 * time.Second
	// RefreshSeconds is the page's meta-refresh period.
	RefreshSeconds = 10
)

//go:embed page.html.tmpl
var pageHTML string

var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"ts":  formatTime,
	"ago": ago,
	"dur": formatDuration,
}).Parse(pageHTML))

// view is a bounded, cleaned Page plus what the template derives from it.
type view struct {
	Page
	Refresh int
	Uptime  time.Duration
}

// Render writes p as HTML. Every string is cut to its limit and stripped of
// control and bidirectional-override characters; html/template escapes the
// rest.
func Render(w io.Writer, p Page) error {
	if p.Now.IsZero() {
		p.Now = time.Now()
	}
	v := view{Page: clean(p), Refresh: RefreshSeconds}
	if !p.Started.IsZero() {
		v.Uptime = p.Now.Sub(p.Started)
	}
	if err := pageTmpl.Execute(w, v); err != nil {
		return fmt.Errorf("render status page: %w", err)
	}
	return nil
}

// Handler serves the page that load builds, for GET and HEAD. A failing load
// is logged and answered 503 without its error (the page may be public).
func Handler(load func(ctx context.Context) (Page, error), log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	log = log.With("component", "status")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), loadTimeout)
		defer cancel()
		p, err := load(ctx)
		if err != nil {
			if r.Context().Err() == nil {
				log.Warn("build status page", "error", err)
			}
			http.Error(w, "status unavailable", http.StatusServiceUnavailable)
			return
		}
		var buf bytes.Buffer
		if err := Render(&buf, p); err != nil {
			log.Error("render status page", "error", err)
			http.Error(w, "status unavailable", http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		// No script may run, whatever slips into the page.
		h.Set("Content-Security-Policy",
			"default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		w.WriteHeader(http.StatusOK)
		w.Write(buf.Bytes())
	})
}

// clean bounds every list and string of p.
func clean(p Page) Page {
	p.Version = cut(p.Version, maxNameRunes)
	p.OutboxError = cut(p.OutboxError, maxErrorRunes)
	p.Warnings = bound(p.Warnings, maxRows, func(s string) string { return cut(s, maxErrorRunes) })
	p.Sources = bound(p.Sources, maxRows, func(s Source) Source {
		s.Name, s.LastError = cut(s.Name, maxNameRunes), cut(s.LastError, maxErrorRunes)
		return s
	})
	p.Channels = bound(p.Channels, maxRows, func(c Channel) Channel {
		c.Slug, c.Source, c.State = cut(c.Slug, maxNameRunes), cut(c.Source, maxNameRunes), cut(c.State, maxNameRunes)
		return c
	})
	p.Sinks = bound(p.Sinks, maxRows, func(s Sink) Sink {
		s.Name, s.Paused, s.Breaker = cut(s.Name, maxNameRunes), cut(s.Paused, maxNameRunes), cut(s.Breaker, maxNameRunes)
		s.LastError = cut(s.LastError, maxErrorRunes)
		return s
	})
	p.Breakers = bound(p.Breakers, maxRows, func(b Breaker) Breaker {
		b.Name, b.State = cut(b.Name, maxNameRunes), cut(b.State, maxNameRunes)
		return b
	})
	p.Mentions = bound(p.Mentions, MaxMentions, func(m Mention) Mention {
		m.Channel, m.Kind, m.Sender = cut(m.Channel, maxNameRunes), cut(m.Kind, maxNameRunes), cut(m.Sender, maxNameRunes)
		m.Text = cut(m.Text, MaxTextRunes)
		return m
	})
	return p
}

// bound copies at most n elements of s through f.
func bound[T any](s []T, n int, f func(T) T) []T {
	if len(s) == 0 {
		return nil
	}
	out := make([]T, 0, min(len(s), n))
	for _, v := range s[:min(len(s), n)] {
		out = append(out, f(v))
	}
	return out
}

// cut makes s printable and at most n runes (plus an ellipsis): invalid UTF-8,
// control characters and bidirectional controls (which could make text read
// backwards or spill its direction into the page) become U+FFFD; newlines and
// tabs become spaces.
func cut(s string, n int) string {
	var b strings.Builder
	runes := 0
	for _, r := range s {
		if runes == n {
			b.WriteRune('…')
			break
		}
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			r = ' '
		case r == utf8.RuneError, unicode.IsControl(r), isBidiControl(r):
			r = utf8.RuneError
		}
		b.WriteRune(r)
		runes++
	}
	return b.String()
}

// isBidiControl reports the explicit directional formatting characters
// (Unicode's Bidi_Control property).
func isBidiControl(r rune) bool {
	return unicode.Is(unicode.Bidi_Control, r)
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// ago is now-t, rounded for people; "" for a zero t.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	d := now.Sub(t)
	if d < 0 {
		return "in " + formatDuration(-d)
	}
	return formatDuration(d) + " ago"
}

// formatDuration rounds d to its two largest units, e.g. "3d4h", "5m12s".
func formatDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd%02dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}
