package discord

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"kickwatch/pipeline"
)

// Discord's embed limits, counted in code points (reference A4: the API is
// Python 3 and counts code points; leading/trailing whitespace is not counted).
const (
	maxTitle       = 256
	maxDescription = 4096
	maxFieldName   = 256
	maxFieldValue  = 1024
	maxFooter      = 2048
	maxFields      = 25
	maxMessageText = 6000 // all titles, descriptions, field names/values, footers of one message
	maxEmbeds      = 10
)

// Budgets for the untrusted parts that are not limited by a field of their
// own. Kick names are short; these only stop a hostile value from crowding out
// the message text.
const (
	maxNameRunes    = 128 // sender and reply-to names, after escaping
	maxChannelRunes = 100 // channel slug shown in the description and link text
)

// The embed's fixed parts: the seed's layout, which users recognise.
const (
	embedTitle  = "Notification on Kick"
	embedColor  = 0x53FC18 // Kick green, 5504024
	footerText  = "Kick Notification"
	placeholder = "(empty)"
	unknownName = "(unknown)"
	ellipsis    = "…"
)

// payload is the Execute Webhook JSON body (reference A1).
type payload struct {
	Username        string          `json:"username,omitempty"`
	Embeds          []embed         `json:"embeds"`
	AllowedMentions allowedMentions `json:"allowed_mentions"`
}

// allowedMentions with an empty, non-nil Parse suppresses every ping (A5).
type allowedMentions struct {
	Parse []string `json:"parse"`
}

type embed struct {
	Title       string  `json:"title"`
	Description string  `json:"description"`
	Color       int     `json:"color"`
	Fields      []field `json:"fields"`
	Timestamp   string  `json:"timestamp,omitempty"`
	Footer      footer  `json:"footer"`
}

type field struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Inline bool   `json:"inline,omitempty"`
}

type footer struct {
	Text string `json:"text"`
}

// size is the embed's share of the 6000 code point message total.
func (e *embed) size() int {
	n := runes(e.Title) + runes(e.Description) + runes(e.Footer.Text)
	for _, f := range e.Fields {
		n += runes(f.Name) + runes(f.Value)
	}
	return n
}

func runes(s string) int { return utf8.RuneCountInString(strings.TrimSpace(s)) }

// renderEmbed builds m's embed. Every untrusted string is cleaned, escaped and
// cut to its limit, so the result always fits one message on its own.
func renderEmbed(m *pipeline.Mention) embed {
	sender := name(m.Sender)
	channel := text(m.Channel, maxChannelRunes, unknownName)
	verb := "Mention"
	if m.Kind == pipeline.KindReply {
		verb = "Reply"
	}
	e := embed{
		Title:       embedTitle,
		Description: truncate(sender+" "+verb+" in "+channel, maxDescription),
		Color:       embedColor,
		Footer:      footer{Text: footerText},
	}
	if ts := timestamp(m.CreatedAt); ts != "" {
		e.Timestamp = ts
	}
	e.Fields = make([]field, 0, 4)
	if m.Kind == pipeline.KindReply {
		e.Fields = append(e.Fields, field{Name: "Original Message", Value: chat(m.ReplyToMessage)})
	}
	e.Fields = append(e.Fields,
		field{Name: "Message", Value: chat(m.Content)},
		field{Name: "Channel", Value: channelLink(m.Channel), Inline: true},
		field{Name: "User", Value: sender, Inline: true},
	)
	return e
}

// chat renders untrusted chat text: emotes as :NAME:, markdown escaped, cut
// to a field value.
func chat(s string) string { return text(pipeline.PlainEmotes(s), maxFieldValue, placeholder) }

func name(s string) string { return text(s, maxNameRunes, unknownName) }

// text cleans, escapes and cuts s to max code points; empty becomes empty.
func text(s string, max int, empty string) string {
	s = strings.TrimSpace(clean(s))
	if s == "" {
		return empty
	}
	return truncate(escapeMarkdown(s), max)
}

// channelLink is the Channel field: a markdown link to the channel's page. The
// slug is escaped as link text and path-escaped in the URL, so it cannot end
// the link early.
func channelLink(slug string) string {
	shown := text(slug, maxChannelRunes, "")
	if shown == "" {
		return unknownName
	}
	slug = strings.TrimSpace(clean(slug))
	if utf8.RuneCountInString(slug) > maxChannelRunes {
		slug = string([]rune(slug)[:maxChannelRunes])
	}
	link := "[" + shown + "](https://kick.com/" + url.PathEscape(slug) + ")"
	if utf8.RuneCountInString(link) > maxFieldValue {
		return shown
	}
	return link
}

func timestamp(t time.Time) string {
	if t.IsZero() || t.Year() < 1970 || t.Year() > 9999 {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// clean makes s valid UTF-8, turns line breaks and tabs into spaces and drops
// other control and bidi-override characters, which could hide or reorder
// text.
func clean(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	dirty := false
	for _, r := range s {
		if unicode.IsControl(r) || isBidi(r) {
			dirty = true
			break
		}
	}
	if !dirty {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			b.WriteByte(' ')
		case unicode.IsControl(r) || isBidi(r):
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func isBidi(r rune) bool {
	return (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069) || r == 0x200E || r == 0x200F
}

// markdownSpecial are the characters chat text must not use as markdown:
// emphasis, code, spoilers, quotes, headings, lists, masked links, and '<'
// which opens mention, channel and timestamp tokens (<@id>, <#id>, <t:…>).
const markdownSpecial = "\\*_~`|>#-[]()<"

// escapeMarkdown backslash-escapes markdown and breaks @everyone / @here with
// a zero-width space (allowed_mentions already blocks the ping; this keeps the
// text from looking like one).
func escapeMarkdown(s string) string {
	var b strings.Builder
	b.Grow(len(s) + len(s)/8)
	for i, r := range s {
		switch {
		case r < utf8.RuneSelf && strings.IndexByte(markdownSpecial, byte(r)) >= 0:
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '@':
			b.WriteByte('@')
			rest := s[i+1:]
			if hasPrefixFold(rest, "everyone") || hasPrefixFold(rest, "here") {
				b.WriteString("\u200b")
			}
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// truncate cuts s to max code points, ending with "…" when it cut. It never
// leaves a lone escaping backslash before the ellipsis.
func truncate(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	n, cut := 0, len(s)
	for i := range s {
		if n == max-1 {
			cut = i
			break
		}
		n++
	}
	s = s[:cut]
	if trailingBackslashes(s)%2 == 1 {
		s = s[:len(s)-1]
	}
	return strings.TrimRightFunc(s, unicode.IsSpace) + ellipsis
}

func trailingBackslashes(s string) int {
	n := 0
	for n < len(s) && s[len(s)-1-n] == '\\' {
		n++
	}
	return n
}

// pack splits embeds into consecutive groups, each one request: at most 10
// embeds and 6000 code points. It returns the end index of each group.
func pack(sizes []int) []int {
	var ends []int
	count, total := 0, 0
	for i, sz := range sizes {
		if count > 0 && (count == maxEmbeds || total+sz > maxMessageText) {
			ends = append(ends, i)
			count, total = 0, 0
		}
		count++
		total += sz
	}
	if count > 0 {
		ends = append(ends, len(sizes))
	}
	return ends
}

// messageBody is the JSON body of one request carrying embeds.
func messageBody(username string, embeds []embed) ([]byte, error) {
	return encode(&payload{Username: username, Embeds: embeds, AllowedMentions: allowedMentions{Parse: []string{}}})
}

// encode marshals p as sent: compact, with <, > and & left as they are.
func encode(p *payload) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
