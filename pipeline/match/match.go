// Package match decides which Kick chat messages kickwatch keeps: mentions of
// the user and their aliases, replies to the user, and keyword or regex rules.
// It also offers Prefilter, a zero-allocation test on a raw transport frame
// that lets a transport drop chat messages that cannot match without decoding
// them.
//
// Matching semantics, decided here once:
//   - Names (username, aliases) are Kick usernames, [A-Za-z0-9_], compared
//     ASCII-case-insensitively. A name's boundaries are any byte that is not a
//     username character (so "é" and "!" are boundaries, "_" is not).
//   - "@name" matches when the byte before '@' is not a username character
//     and the byte after the name is not one either: "hi @Bob!" and "@bob,"
//     match, "@bobby" and "email@bob" do not.
//   - With BareNames, "name" also matches without '@' when neither neighbour
//     is a username character and the byte before it is not '@' ("email@bob"
//     stays unmatched). A bare name inside an emote token
//     "[emote:123:bob]" does not count.
//   - A reply matches when the replied-to sender is the user, by name or by
//     UserID when it is set. Reply wins over mention.
//   - Keywords match as a substring of the content, emote tokens included;
//     case-insensitive keywords use Unicode simple case folding (as
//     strings.EqualFold). Regex rules (RE2) run on the content, with (?i)
//     added when the rule is case-insensitive.
//   - The user's own messages and ignored senders never match.
package match

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"kickwatch/pipeline"
)

// maxNameLen bounds a configured username or alias. Kick's own limit is 25;
// the slack only keeps odd but harmless configs loading.
const maxNameLen = 64

// Rule is a keyword or regex rule. Exactly one of Keyword and Regex is set.
type Rule struct {
	Name            string   // recorded as the match's rule; unique
	Keyword         string   // substring to find in the content
	Regex           string   // RE2 expression run on the content
	CaseSensitive   bool     // false: case-insensitive
	Channels        []string // if set, the rule only applies in these channel slugs
	ExcludeChannels []string // the rule never applies in these channel slugs
}

// Options configure a Matcher.
type Options struct {
	Username      string        // the watched Kick user; may be empty if only rules are wanted
	UserID        int64         // the user's Kick id; 0 when unknown
	Aliases       []string      // other names that count as mentions
	BareNames     bool          // also match names written without '@'
	IgnoreSenders []string      // sender names to ignore; '*' matches any run, case-insensitive
	Cooldown      time.Duration // 0: off; else suppress repeat matches per channel+sender
	Rules         []Rule
	Now           func() time.Time // clock for the cooldown; time.Now when nil
}

// Result is the outcome of Evaluate.
type Result struct {
	Kind pipeline.Kind // empty when nothing matched
	Rule string        // "mention:@bob", "alias:@bob2", "reply", or a rule name
	// Suppressed is set when the message matched but fell within the cooldown
	// of an earlier kept match from the same sender in the same channel.
	Suppressed bool
}

// Kept reports whether the message is to be delivered.
func (r Result) Kept() bool { return r.Kind != "" && !r.Suppressed }

// name is a username or alias ready to search for.
type name struct {
	lower    string // lowercase, for ASCII-fold comparison
	atRule   string // rule recorded for "@name"
	bareRule string // rule recorded for a bare "name"
}

type rule struct {
	name          string
	keyword       string
	re            *regexp.Regexp
	caseSensitive bool
	channels      []string // lowercase
	exclude       []string // lowercase
}

// Matcher holds compiled options. It is safe for concurrent use.
type Matcher struct {
	user      string // lowercase username, "" when unset
	userID    int64
	names     []name // username first, then aliases
	bare      bool
	ignore    []string // lowercase patterns
	rules     []rule
	cooldown  *cooldown
	prefilter prefilter
}

// New validates o and builds a Matcher.
func New(o Options) (*Matcher, error) {
	m := &Matcher{userID: o.UserID, bare: o.BareNames}
	if o.UserID < 0 {
		return nil, fmt.Errorf("user id %d: must not be negative", o.UserID)
	}
	if o.Username != "" {
		u, err := cleanName(o.Username)
		if err != nil {
			return nil, fmt.Errorf("username: %w", err)
		}
		m.user = strings.ToLower(u)
		m.names = append(m.names, name{lower: m.user, atRule: "mention:@" + u, bareRule: "mention:" + u})
	}
	for _, a := range o.Aliases {
		c, err := cleanName(a)
		if err != nil {
			return nil, fmt.Errorf("alias %q: %w", a, err)
		}
		lc := strings.ToLower(c)
		if containsName(m.names, lc) {
			continue
		}
		m.names = append(m.names, name{lower: lc, atRule: "alias:@" + c, bareRule: "alias:" + c})
	}
	for _, p := range o.IgnoreSenders {
		if strings.Trim(p, "*") == "" {
			return nil, fmt.Errorf("ignore sender %q: empty or all-wildcard pattern", p)
		}
		m.ignore = append(m.ignore, strings.ToLower(p))
	}
	if o.Cooldown < 0 {
		return nil, fmt.Errorf("cooldown %v: must not be negative", o.Cooldown)
	}
	seen := make(map[string]bool)
	for i, r := range o.Rules {
		cr, err := compileRule(r)
		if err != nil {
			if r.Name == "" {
				return nil, fmt.Errorf("rule #%d: %w", i+1, err)
			}
			return nil, fmt.Errorf("rule %q: %w", r.Name, err)
		}
		if seen[cr.name] {
			return nil, fmt.Errorf("rule %q: duplicate name", r.Name)
		}
		seen[cr.name] = true
		m.rules = append(m.rules, cr)
	}
	if o.Cooldown > 0 {
		now := o.Now
		if now == nil {
			now = time.Now
		}
		m.cooldown = newCooldown(o.Cooldown, maxCooldownEntries, now)
	}
	m.prefilter = buildPrefilter(m, o)
	return m, nil
}

func containsName(ns []name, lower string) bool {
	for _, n := range ns {
		if n.lower == lower {
			return true
		}
	}
	return false
}

// cleanName validates a Kick username, tolerating one leading '@'.
func cleanName(s string) (string, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "@")
	if s == "" {
		return "", errors.New("empty name")
	}
	if len(s) > maxNameLen {
		return "", fmt.Errorf("name longer than %d characters", maxNameLen)
	}
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i]) {
			return "", fmt.Errorf("name %q: only letters, digits and _ are allowed", s)
		}
	}
	return s, nil
}

func compileRule(r Rule) (rule, error) {
	cr := rule{name: strings.TrimSpace(r.Name), keyword: r.Keyword, caseSensitive: r.CaseSensitive}
	switch {
	case cr.name == "":
		return rule{}, errors.New("missing name")
	case r.Keyword != "" && r.Regex != "":
		return rule{}, errors.New("set keyword or regex, not both")
	case r.Keyword == "" && r.Regex == "":
		return rule{}, errors.New("set keyword or regex")
	}
	if r.Regex != "" {
		expr := r.Regex
		if !r.CaseSensitive {
			expr = "(?i)" + expr
		}
		re, err := regexp.Compile(expr)
		if err != nil {
			return rule{}, fmt.Errorf("compile regex: %w", err)
		}
		cr.re = re
	}
	for _, c := range r.Channels {
		cr.channels = append(cr.channels, strings.ToLower(strings.TrimSpace(c)))
	}
	for _, c := range r.ExcludeChannels {
		cr.exclude = append(cr.exclude, strings.ToLower(strings.TrimSpace(c)))
	}
	return cr, nil
}

// Match reports whether msg is to be kept, as what and by which rule. A
// message suppressed by the cooldown is not kept; use Evaluate to tell it
// apart from a message that did not match.
func (m *Matcher) Match(msg *pipeline.ChatMessage) (kind pipeline.Kind, rule string, ok bool) {
	r := m.Evaluate(msg)
	if !r.Kept() {
		return "", "", false
	}
	return r.Kind, r.Rule, true
}

// Evaluate matches msg and applies the cooldown. A kept match starts a new
// cooldown window for its channel and sender.
func (m *Matcher) Evaluate(msg *pipeline.ChatMessage) Result {
	kind, rule := m.classify(msg)
	if kind == "" {
		return Result{}
	}
	r := Result{Kind: kind, Rule: rule}
	if m.cooldown != nil && !m.cooldown.allow(cooldownKey(msg)) {
		r.Suppressed = true
	}
	return r
}

// classify matches msg without side effects.
func (m *Matcher) classify(msg *pipeline.ChatMessage) (pipeline.Kind, string) {
	if msg == nil || m.isOwn(msg) || m.ignored(msg) {
		return "", ""
	}
	if rt := msg.ReplyTo; rt != nil {
		if (m.user != "" && equalFoldASCII(rt.Sender, m.user)) || (m.userID != 0 && rt.SenderID == m.userID) {
			return pipeline.KindReply, "reply"
		}
	}
	if r := m.findName(msg.Content); r != "" {
		return pipeline.KindMention, r
	}
	for i := range m.rules {
		if m.rules[i].match(msg) {
			return pipeline.KindKeyword, m.rules[i].name
		}
	}
	return "", ""
}

func (m *Matcher) isOwn(msg *pipeline.ChatMessage) bool {
	if m.userID != 0 && msg.SenderID == m.userID {
		return true
	}
	return m.user != "" && equalFoldASCII(msg.Sender, m.user)
}

func (m *Matcher) ignored(msg *pipeline.ChatMessage) bool {
	for _, p := range m.ignore {
		if wildcardFold(p, msg.Sender) || (msg.SenderSlug != "" && wildcardFold(p, msg.SenderSlug)) {
			return true
		}
	}
	return false
}

func (r *rule) match(msg *pipeline.ChatMessage) bool {
	if len(r.channels) > 0 && !inFold(r.channels, msg.Channel) {
		return false
	}
	if inFold(r.exclude, msg.Channel) {
		return false
	}
	if r.re != nil {
		return r.re.MatchString(msg.Content)
	}
	if r.caseSensitive {
		return strings.Contains(msg.Content, r.keyword)
	}
	return containsFold(msg.Content, r.keyword)
}

// inFold reports whether s is in the lowercase list, ignoring case.
func inFold(list []string, s string) bool {
	for _, l := range list {
		if strings.EqualFold(l, s) {
			return true
		}
	}
	return false
}

func cooldownKey(msg *pipeline.ChatMessage) string {
	who := strings.ToLower(msg.Sender)
	if msg.SenderID != 0 {
		who = "#" + strconv.FormatInt(msg.SenderID, 10)
	}
	where := strings.ToLower(msg.Channel)
	if where == "" {
		where = "#" + strconv.FormatInt(msg.ChatroomID, 10)
	}
	return where + "\x00" + who
}
