// Package console is a pipeline.Sink that prints mentions to a terminal or
// any io.Writer, for demos and setups without Discord or Supabase accounts.
//
// Chat text is untrusted: every field printed is first passed through
// Sanitize so a message cannot move the cursor, clear the screen, set the
// window title or otherwise drive the terminal.
package console

import (
	"context"
	"fmt"
	"io"
	"sync"
	"unicode/utf8"

	"kickwatch/pipeline"
)

const (
	// SinkName keys the console sink's state in the outbox.
	SinkName = "console"
	// maxBatch bounds one Deliver call; printing is cheap, so it is generous.
	maxBatch = 50
	// maxFieldBytes caps each printed field, so one oversized payload cannot
	// flood the terminal; Kick's own message limit is far below it.
	maxFieldBytes = 4096
	// timeLayout is UTC with a Z, fixed width, sortable.
	timeLayout = "2006-01-02 15:04:05Z"
)

// Sink prints each mention as a short block:
//
//	[2025-08-20 07:07:44Z] #somechannel  Viewer_One mentioned you:
//	  hey @Target_User look at this :KEKW:
//	  ↳ replying to Target_User: did you see that :KEKLEO:
//
// It is safe for concurrent use; blocks from concurrent calls never
// interleave.
type Sink struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte // reused block buffer, guarded by mu
}

// New returns a console sink writing to w.
func New(w io.Writer) *Sink { return &Sink{w: w} }

// Name returns "console".
func (s *Sink) Name() string { return SinkName }

// MaxBatch returns 50.
func (s *Sink) MaxBatch() int { return maxBatch }

// Deliver prints ms, one Write per mention. A mention whose write fails, and
// every mention after it, is reported Retry with the write error; so are
// those left when ctx is done.
func (s *Sink) Deliver(ctx context.Context, ms []pipeline.Mention) []pipeline.Result {
	res := make([]pipeline.Result, len(ms))
	s.mu.Lock()
	defer s.mu.Unlock()
	var failed error
	for i := range ms {
		if failed == nil {
			if err := ctx.Err(); err != nil {
				failed = fmt.Errorf("print mention: %w", err)
			}
		}
		if failed == nil {
			s.buf = appendBlock(s.buf[:0], &ms[i])
			if _, err := s.w.Write(s.buf); err != nil {
				failed = fmt.Errorf("write console: %w", err)
			}
		}
		if failed != nil {
			res[i] = pipeline.Result{Outcome: pipeline.Retry, Err: failed}
			continue
		}
		res[i] = pipeline.Result{Outcome: pipeline.Delivered}
	}
	if cap(s.buf) > 4*maxFieldBytes {
		s.buf = nil // do not hold on to a buffer grown by an outlier
	}
	return res
}

// appendBlock appends the printed block for m to b. Every
// field taken from chat goes through Sanitize; emote tokens are shown as
// :name:.
func appendBlock(b []byte, m *pipeline.Mention) []byte {
	at := m.CreatedAt
	if at.IsZero() {
		at = m.ReceivedAt
	}
	b = append(b, '[')
	b = at.UTC().AppendFormat(b, timeLayout)
	b = append(b, "] #"...)
	b = appendField(b, m.Channel)
	b = append(b, "  "...)
	b = appendField(b, m.Sender)
	switch m.Kind {
	case pipeline.KindMention:
		b = append(b, " mentioned you:"...)
	case pipeline.KindReply:
		b = append(b, " replied to you:"...)
	case pipeline.KindKeyword:
		b = append(b, " matched keyword"...)
		if m.Rule != "" {
			b = append(b, " \""...)
			b = appendField(b, m.Rule)
			b = append(b, '"')
		}
		b = append(b, ':')
	default:
		b = append(b, " matched:"...)
	}
	b = append(b, "\n  "...)
	b = appendField(b, pipeline.PlainEmotes(m.Content))
	b = append(b, '\n')
	if m.ReplyToMessage != "" || m.ReplyToSender != "" {
		b = append(b, "  ↳ replying to"...)
		if m.ReplyToSender != "" {
			b = append(b, ' ')
			b = appendField(b, m.ReplyToSender)
		}
		b = append(b, ": "...)
		b = appendField(b, pipeline.PlainEmotes(m.ReplyToMessage))
		b = append(b, '\n')
	}
	return b
}

// appendField appends s sanitized and cut to maxFieldBytes.
func appendField(b []byte, s string) []byte {
	if len(s) <= maxFieldBytes {
		return appendSanitized(b, s)
	}
	cut := maxFieldBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	b = appendSanitized(b, s[:cut])
	return append(b, "…"...)
}

// Sanitize returns s made safe to print on a terminal: everything a terminal
// might act on is written as a visible Go-style escape instead. That covers C0
// controls including newline, carriage return and tab (`\n`, `\r`, `\t`,
// `\x1b`…), DEL, C1 controls (`\u009b`…), Unicode line and paragraph
// separators, bidirectional formatting characters (which can reorder what is
// shown), and bytes that are not valid UTF-8 (`\xff`). An ANSI escape sequence
// thus prints as harmless text such as `\x1b[2J`. Backslashes are not
// escaped: the output is for people, not for parsing back. Sanitize returns s
// itself when there is nothing to escape.
func Sanitize(s string) string {
	if isClean(s) {
		return s
	}
	return string(appendSanitized(make([]byte, 0, len(s)+16), s))
}

// isClean reports whether s needs no escaping, without allocating.
func isClean(s string) bool {
	for i := 0; i < len(s); {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		if needsEscape(r) || r == utf8.RuneError && size == 1 {
			return false
		}
		i += size
	}
	return true
}

// appendSanitized appends Sanitize(s) to b.
func appendSanitized(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		switch {
		case r == utf8.RuneError && size == 1: // an invalid byte
			b = append(b, '\\', 'x', hex[s[i]>>4], hex[s[i]&0xf])
		case !needsEscape(r):
			b = append(b, s[i:i+size]...)
		case r == '\n':
			b = append(b, '\\', 'n')
		case r == '\r':
			b = append(b, '\\', 'r')
		case r == '\t':
			b = append(b, '\\', 't')
		case r < 0x80:
			b = append(b, '\\', 'x', hex[r>>4], hex[r&0xf])
		default:
			b = append(b, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
		}
		i += size
	}
	return b
}

// needsEscape reports whether a terminal might act on r rather than show it.
func needsEscape(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f: // C0 controls, DEL
		return true
	case r < 0x80:
		return false
	case r <= 0x9f: // C1 controls (0x9b is a one-byte CSI on some terminals)
		return true
	case r == 0x2028, r == 0x2029: // line and paragraph separators
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, // bidi marks
		0x202a <= r && r <= 0x202e, // bidi embeddings and overrides
		0x2066 <= r && r <= 0x2069: // bidi isolates
		return true
	}
	return false
}

var _ pipeline.Sink = (*Sink)(nil)
