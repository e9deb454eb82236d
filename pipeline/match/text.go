package match

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// isNameByte reports whether c can appear in a Kick username.
func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

func lowerASCII(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// equalFoldASCII compares s with the lowercase lower, folding ASCII only:
// Kick names are ASCII, and Unicode folding would let "\u212Aevin" (Kelvin
// sign) pass for "kevin".
func equalFoldASCII(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if lowerASCII(s[i]) != lower[i] {
			return false
		}
	}
	return true
}

// indexFoldASCII returns the index of the first match of the lowercase
// needle in s at or after from, folding ASCII only, or -1.
func indexFoldASCII(s, needle string, from int) int {
	if len(needle) == 0 {
		return from
	}
	c0 := needle[0]
	for i := from; i+len(needle) <= len(s); i++ {
		if lowerASCII(s[i]) != c0 {
			continue
		}
		if equalFoldASCII(s[i:i+len(needle)], needle) {
			return i
		}
	}
	return -1
}

// findName returns the rule of the first name mentioned in content, or "".
// An "@name" mention is preferred over a bare one for the same name.
func (m *Matcher) findName(content string) string {
	for _, n := range m.names {
		bare := false
		for i := indexFoldASCII(content, n.lower, 0); i >= 0; i = indexFoldASCII(content, n.lower, i+1) {
			end := i + len(n.lower)
			if end < len(content) && isNameByte(content[end]) {
				continue
			}
			if i > 0 && content[i-1] == '@' {
				if i == 1 || !isNameByte(content[i-2]) {
					return n.atRule
				}
				continue // "email@bob"
			}
			if m.bare && !bare && (i == 0 || !isNameByte(content[i-1])) && !insideEmote(content, i) {
				bare = true
			}
		}
		if bare {
			return n.bareRule
		}
	}
	return ""
}

// insideEmote reports whether byte i of s lies inside an emote token
// "[emote:ID:NAME]" (ID digits, NAME as Kick's emote names: letters, digits,
// '_', '-', '!').
func insideEmote(s string, i int) bool {
	const open = "[emote:"
	j := strings.LastIndex(s[:i], open)
	if j < 0 {
		return false
	}
	k := j + len(open)
	digits := k
	for k < len(s) && s[k] >= '0' && s[k] <= '9' {
		k++
	}
	if k == digits || k >= len(s) || s[k] != ':' {
		return false
	}
	for k++; k < len(s) && (isNameByte(s[k]) || s[k] == '-' || s[k] == '!'); k++ {
	}
	if k >= len(s) || s[k] != ']' {
		return false
	}
	return i < k
}

// wildcardFold matches s against the lowercase pattern p, where '*' matches
// any run of bytes, folding ASCII case.
func wildcardFold(p, s string) bool {
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case pi < len(p) && p[pi] == lowerASCII(s[si]):
			pi++
			si++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// containsFold reports whether sub occurs in s under Unicode simple case
// folding, the folding strings.EqualFold and RE2's (?i) use.
func containsFold(s, sub string) bool {
	if sub == "" {
		return true
	}
	for i := 0; i < len(s); {
		if hasPrefixFold(s[i:], sub) {
			return true
		}
		_, w := utf8.DecodeRuneInString(s[i:])
		i += w
	}
	return false
}

func hasPrefixFold(s, prefix string) bool {
	for prefix != "" {
		if s == "" {
			return false
		}
		a, wa := utf8.DecodeRuneInString(s)
		b, wb := utf8.DecodeRuneInString(prefix)
		if !equalFoldRune(a, b) {
			return false
		}
		s, prefix = s[wa:], prefix[wb:]
	}
	return true
}

func equalFoldRune(a, b rune) bool {
	if a == b {
		return true
	}
	for r := unicode.SimpleFold(a); r != a; r = unicode.SimpleFold(r) {
		if r == b {
			return true
		}
	}
	return false
}
