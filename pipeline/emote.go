package pipeline

import "strings"

// emotePrefix opens a Kick emote token: [emote:<digits>:<name>].
const emotePrefix = "[emote:"

// PlainEmotes replaces each Kick emote token `[emote:<id>:<name>]` in s with
// `:<name>:`, the way chat clients show emotes as text. A token is well formed
// when <id> is one or more ASCII digits and <name> one or more of
// [a-zA-Z0-9-_!] (KickTalk's emote name set); anything else is left as is.
//
// The result never contains a well-formed token, even when a replacement
// completes a new one with the text around it (`[emote[emote:1:2]:x]`), so
// PlainEmotes is idempotent. It runs in one pass, linear in len(s), and
// returns s itself (no allocation) when s holds no token prefix.
func PlainEmotes(s string) string {
	i := strings.Index(s, emotePrefix)
	if i < 0 {
		return s
	}
	out := make([]byte, 0, len(s))
	out = append(out, s[:i]...)
	rest := s[i:]
	for {
		j := strings.IndexByte(rest, ']')
		if j < 0 {
			out = append(out, rest...)
			break
		}
		out = reduceEmote(append(out, rest[:j+1]...))
		rest = rest[j+1:]
	}
	return string(out)
}

// reduceEmote rewrites a well-formed token at the end of out (which ends with
// ']') to `:<name>:`. Tokens are matched on the output rather than the input,
// so a token that a replacement completes is caught too: a token can only be
// completed by appending its ']', and every ']' passes through here. Each scan
// stops at the previous ']' or ':' it meets, which keeps the whole pass linear.
func reduceEmote(out []byte) []byte {
	end := len(out) - 1 // the ']'
	n := end
	for n > 0 && isEmoteNameByte(out[n-1]) {
		n--
	}
	if n == end || n == 0 || out[n-1] != ':' {
		return out
	}
	d := n - 1
	for d > 0 && out[d-1] >= '0' && out[d-1] <= '9' {
		d--
	}
	if d == n-1 || d < len(emotePrefix) || string(out[d-len(emotePrefix):d]) != emotePrefix {
		return out
	}
	start := d - len(emotePrefix)
	nameLen := end - n
	out[start] = ':'
	copy(out[start+1:], out[n:end])
	out[start+1+nameLen] = ':'
	return out[:start+2+nameLen]
}

// isEmoteNameByte reports whether c may appear in an emote name.
func isEmoteNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '!'
}
