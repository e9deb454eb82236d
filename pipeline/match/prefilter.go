package match

import (
	"bytes"
	"strconv"
	"strings"
)

// Prefilter's notion of a chat-message frame. A frame counts only when its
// shape leaves no doubt that it carries exactly one ChatMessageEvent and
// nothing else (no protocol reply, no Centrifugo batch); anything else is
// left to the decoder. The event name is looked for with its quotes, at the
// envelope's level of escaping: text inside a message is escaped at least
// once more, so it cannot forge the token.
var (
	chatEvent     = []byte(`"event":"App\\Events\\ChatMessageEvent"`)
	pusherChat    = []byte(`{"event":"App\\Events\\ChatMessageEvent",`)
	pusherChannel = []byte(`{"channel":"`)
	pusherData    = []byte(`{"data":"`)
	centPush      = []byte(`{"push":{"channel":"`)
	centPub       = []byte(`"pub":{`)
)

// prefilter holds the needles of the fast path, grouped by the byte each is
// anchored on: every needle is found by scanning for its rarest byte with
// bytes.IndexByte (vectorised) and verifying around each hit.
type prefilter struct {
	off    bool // some rule has no needle: the fast path is unsafe
	groups []anchorGroup
}

type anchorGroup struct {
	bytes   []byte // the anchor byte in each ASCII case (one or two)
	needles []anchored
}

type anchored struct {
	text []byte // lowercase
	at   int    // index of the anchor byte in text
}

// needles lists what must appear in a frame for any message in it to match:
// names (mentions, replies by name), the user id (replies by id), and one
// literal per keyword or regex rule. ok is false when a rule has none, e.g. a
// keyword made only of characters JSON may escape ("/", "é", …) or a regex
// with no required literal ("\d{6}"). The user id is assumed to be written
// in plain decimal, as a JSON number or string, which is how Kick writes ids.
func needles(m *Matcher, o Options) (ns []string, ok bool) {
	for _, n := range m.names {
		ns = append(ns, n.lower)
	}
	if m.userID != 0 {
		ns = append(ns, strconv.FormatInt(m.userID, 10))
	}
	for _, r := range o.Rules {
		if r.Keyword != "" {
			run := longestSafeRun(r.Keyword, !r.CaseSensitive)
			if run == "" {
				return nil, false
			}
			ns = append(ns, run)
			continue
		}
		expr := r.Regex
		if !r.CaseSensitive {
			expr = "(?i)" + expr
		}
		rn, ok := regexNeedles(expr)
		if !ok {
			return nil, false
		}
		ns = append(ns, rn...)
	}
	return minimal(ns), true
}

// minimal drops duplicates and needles that contain another needle: a frame
// holding the longer one holds the shorter one too.
func minimal(ns []string) []string {
	var out []string
	for i, n := range ns {
		redundant := false
		for j, o := range ns {
			if i != j && strings.Contains(n, o) && (len(o) < len(n) || j < i) {
				redundant = true
				break
			}
		}
		if !redundant {
			out = append(out, n)
		}
	}
	return out
}

func buildPrefilter(m *Matcher, o Options) prefilter {
	ns, ok := needles(m, o)
	if !ok {
		return prefilter{off: true}
	}
	freq := byteFrequency()
	var p prefilter
	for _, n := range ns {
		at := rarest(n, &freq)
		c := n[at]
		g := p.group(c)
		if g == nil {
			p.groups = append(p.groups, anchorGroup{bytes: caseVariants(c)})
			g = &p.groups[len(p.groups)-1]
		}
		g.needles = append(g.needles, anchored{text: []byte(n), at: at})
	}
	return p
}

func (p *prefilter) group(c byte) *anchorGroup {
	for i := range p.groups {
		if p.groups[i].bytes[0] == c {
			return &p.groups[i]
		}
	}
	return nil
}

// caseVariants returns the lowercase c and, for a letter, its uppercase.
func caseVariants(c byte) []byte {
	if c >= 'a' && c <= 'z' {
		return []byte{c, c - 'a' + 'A'}
	}
	return []byte{c}
}

// rarest picks the byte of the lowercase needle n that is cheapest to scan
// for: fewest expected hits in a chat frame, one pass instead of two for a
// byte without case.
func rarest(n string, freq *[256]int) int {
	best, bestCost := 0, -1
	for i := 0; i < len(n); i++ {
		cost := 0
		for _, c := range caseVariants(n[i]) {
			cost += 16 + freq[c]
		}
		if bestCost < 0 || cost < bestCost {
			best, bestCost = i, cost
		}
	}
	return best
}

// sampleFrame is a typical chat frame; its byte counts rank how often each
// byte turns up in the frames the prefilter scans.
const sampleFrame = `{"event":"App\\Events\\ChatMessageEvent","data":"{\"id\":\"0b6a1f3e-5c2d-4b8e-9a51-7d2c9e4f1a20\",\"chatroom_id\":2346570,\"content\":\"that was a good one lol, see you tomorrow\",\"type\":\"message\",\"created_at\":\"2025-08-20T07:07:44+00:00\",\"sender\":{\"id\":4815162,\"username\":\"Viewer_One\",\"slug\":\"viewer-one\",\"identity\":{\"color\":\"#DEB2FF\",\"badges\":[{\"type\":\"subscriber\",\"text\":\"Subscriber\",\"count\":3}]}},\"metadata\":{\"message_ref\":\"1755673663786\"}}","channel":"chatrooms.2346570.v2"}`

func byteFrequency() [256]int {
	var f [256]int
	for i := 0; i < len(sampleFrame); i++ {
		f[sampleFrame[i]]++
	}
	return f
}

// Prefilter reports whether raw, a whole transport frame (Pusher or
// Centrifugo), is a chat message that cannot match, so the transport may drop
// it undecoded. It returns true only when raw is certainly one
// ChatMessageEvent and holds none of the needles (names, user id, rule
// literals) anywhere, compared ASCII-case-insensitively; false means "decode
// it". It does not allocate and does not retain raw.
//
// The needles are ASCII bytes that JSON never escapes, so they appear as
// themselves however many times the message was encoded. The fast path is
// off (always false) when a rule yields no such needle.
func (m *Matcher) Prefilter(raw []byte) bool {
	if m.prefilter.off || !isChatFrame(raw) {
		return false
	}
	return !m.prefilter.found(raw)
}

// isChatFrame reports whether raw is certainly a single chat-message event.
func isChatFrame(raw []byte) bool {
	t := raw
	for len(t) > 0 && isSpace(t[0]) {
		t = t[1:]
	}
	// Strings in JSON cannot hold a raw newline, so one inside the frame
	// separates values: a Centrifugo batch, which may carry a reply.
	if i := bytes.IndexByte(t, '\n'); i >= 0 {
		for _, c := range t[i:] {
			if !isSpace(c) {
				return false
			}
		}
	}
	switch {
	case bytes.HasPrefix(t, pusherChat):
		return true
	case bytes.HasPrefix(t, centPush):
		return bytes.Contains(t, centPub) && bytes.Contains(t, chatEvent)
	case bytes.HasPrefix(t, pusherChannel), bytes.HasPrefix(t, pusherData):
		return bytes.Contains(t, chatEvent)
	}
	return false
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// found reports whether any needle occurs in raw, ignoring ASCII case.
func (p *prefilter) found(raw []byte) bool {
	for gi := range p.groups {
		g := &p.groups[gi]
		for _, c := range g.bytes {
			for i := 0; ; {
				j := bytes.IndexByte(raw[i:], c)
				if j < 0 {
					break
				}
				hit := i + j
				for k := range g.needles {
					if g.needles[k].matchAt(raw, hit) {
						return true
					}
				}
				i = hit + 1
			}
		}
	}
	return false
}

// at1 reports whether the needle occurs in raw with its anchor at hit.
func (a *anchored) matchAt(raw []byte, hit int) bool {
	s := hit - a.at
	if s < 0 || s+len(a.text) > len(raw) {
		return false
	}
	w := raw[s : s+len(a.text)]
	for i, c := range a.text {
		if lowerASCII(w[i]) != c {
			return false
		}
	}
	return true
}
