package metrics

import "sync"

// other is the label value for anything outside a bounded label set: an
// unconfigured channel, a name past the cap, a value that does not look like a
// name.
const other = "other"

// maxLabelLen bounds a configured label value (a channel slug is at most 64).
const maxLabelLen = 64

// maxOpenLabelLen bounds a name admitted on first sight. Code-given names
// (sources, reasons, breakers) are short; tokens and keys are longer (Discord
// webhook tokens 68, Supabase keys 40+), so one passed by mistake is "other".
const maxOpenLabelLen = 32

// labelGuard keeps a label's cardinality bounded. A fixed guard admits only
// its configured names; an open one admits names as they come, up to max.
// Anything else becomes "other", so no outside string can grow the series
// count without bound or leak into the exposition as free text.
type labelGuard struct {
	mu    sync.Mutex
	known map[string]struct{}
	fixed bool
	max   int
}

func newFixedGuard(names []string) *labelGuard {
	g := &labelGuard{known: map[string]struct{}{}, fixed: true}
	for _, n := range names {
		if validLabel(n) {
			g.known[n] = struct{}{}
		}
	}
	return g
}

func newOpenGuard(max int) *labelGuard {
	return &labelGuard{known: map[string]struct{}{}, max: max}
}

// value maps s to itself when admitted, else to "other".
func (g *labelGuard) value(s string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.known[s]; ok {
		return s
	}
	if g.fixed || len(g.known) >= g.max || len(s) > maxOpenLabelLen || !validLabel(s) {
		return other
	}
	g.known[s] = struct{}{}
	return s
}

// validLabel admits the characters of Kick slugs, sink and source names and
// reason codes: lower-case ASCII letters, digits, '_', '-', '.'.
func validLabel(s string) bool {
	if s == "" || len(s) > maxLabelLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_', c == '-', c == '.':
		default:
			return false
		}
	}
	return true
}

// channelLabels maps channel slugs to labels: configured slugs (the ingest
// snapshot's channels) keep their name, anything else is "other".
type channelLabels map[string]struct{}

func (c channelLabels) value(slug string) string {
	if _, ok := c[slug]; ok && validLabel(slug) {
		return slug
	}
	return other
}
