package match

import (
	"regexp/syntax"
	"strings"
	"unicode"
)

// maxAlternates bounds the needles one regex may add to the prefilter; past
// it the fast path is cheaper to switch off than to run.
const maxAlternates = 16

// safeByte reports whether c is written as itself in JSON by every encoder
// the frames may pass through, at any depth of encoding: PHP's json_encode
// (escapes '/', '"', '\\', controls, non-ASCII), Go's encoding/json (also
// '<', '>', '&'), and encoders that hex-escape "'" . With fold set, it also
// rules out the ASCII letters whose Unicode case fold leaves ASCII ('k' and
// 'K' fold with U+212A KELVIN SIGN, 's' and 'S' with U+017F LONG S): a
// folded match may contain the other rune, escaped as \u212a in the frame.
func safeByte(c byte, fold bool) bool {
	if c < 0x20 || c >= 0x7f {
		return false
	}
	switch c {
	case '"', '\\', '/', '<', '>', '&', '\'':
		return false
	}
	if fold {
		for r := unicode.SimpleFold(rune(c)); r != rune(c); r = unicode.SimpleFold(r) {
			if r >= utf8RuneSelf {
				return false
			}
		}
	}
	return true
}

const utf8RuneSelf = 0x80

// longestSafeRun returns the longest run of safe bytes in s, lowercased, or
// "" when s has none. Any text that contains s contains the run, and a frame
// that carries such text carries the run verbatim (up to ASCII case).
func longestSafeRun(s string, fold bool) string {
	best, start := "", 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && safeByte(s[i], fold) {
			continue
		}
		if i-start > len(best) {
			best = s[start:i]
		}
		start = i + 1
	}
	return strings.ToLower(best)
}

// regexNeedles returns lowercase strings at least one of which occurs in any
// text that expr matches, or ok=false when it cannot tell.
func regexNeedles(expr string) (needles []string, ok bool) {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, false
	}
	return required(re)
}

func required(re *syntax.Regexp) ([]string, bool) {
	switch re.Op {
	case syntax.OpLiteral:
		run := longestSafeRun(string(re.Rune), re.Flags&syntax.FoldCase != 0)
		if run == "" {
			return nil, false
		}
		return []string{run}, true
	case syntax.OpCapture, syntax.OpPlus:
		return required(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min < 1 {
			return nil, false
		}
		return required(re.Sub[0])
	case syntax.OpConcat:
		var best []string
		for _, sub := range re.Sub {
			if n, ok := required(sub); ok && better(n, best) {
				best = n
			}
		}
		return best, best != nil
	case syntax.OpAlternate:
		var all []string
		for _, sub := range re.Sub {
			n, ok := required(sub)
			if !ok {
				return nil, false
			}
			all = append(all, n...)
		}
		if len(all) > maxAlternates {
			return nil, false
		}
		return all, true
	}
	return nil, false
}

// better prefers the needle set whose shortest needle is longer (fewer false
// hits), then the smaller set (fewer scans).
func better(a, b []string) bool {
	if b == nil {
		return true
	}
	ma, mb := minLen(a), minLen(b)
	if ma != mb {
		return ma > mb
	}
	return len(a) < len(b)
}

func minLen(ss []string) int {
	m := -1
	for _, s := range ss {
		if m < 0 || len(s) < m {
			m = len(s)
		}
	}
	return m
}
