package kickhook

import "sync/atomic"

type counter int

const (
	cAccepted     counter = iota // verified chat message handed over
	cMatched                     // … and it matched (stored in the outbox)
	cIgnored                     // verified, not a chat message
	cBadSignature                // 401: signature missing or wrong
	cStale                       // 401: timestamp unreadable or outside the skew
	cTooLarge                    // 413
	cBadType                     // 415
	cBadMethod                   // 405
	cReplay                      // verified, message id already handled
	cMalformed                   // verified, body not a readable chat message
	cReadError                   // 400/408: body not received (slow or broken client)
	cSubmitError                 // 503: the pipeline could not store it
	cBusy                        // 503: too many deliveries at once
	numCounters
)

var counterNames = [numCounters]string{
	"accepted", "matched", "ignored", "bad_signature", "stale", "too_large",
	"bad_type", "bad_method", "replay", "malformed", "read_error", "submit_error", "busy",
}

func (c counter) String() string { return counterNames[c] }

type stats struct {
	n [numCounters]atomic.Uint64
}

func (s *stats) add(c counter) { s.n[c].Add(1) }

// Counters is a snapshot of the receiver's counters, for metrics.
type Counters struct {
	Accepted     uint64 // verified chat messages handed to the pipeline
	Matched      uint64 // of those, the ones that matched and were stored
	Ignored      uint64 // verified deliveries of other event types
	BadSignature uint64 // 401: signature headers missing or signature wrong
	Stale        uint64 // 401: timestamp unreadable or outside max_skew
	TooLarge     uint64 // 413
	BadType      uint64 // 415: not application/json
	BadMethod    uint64 // 405
	Replay       uint64 // verified, message id already handled (replay or Kick's duplicate)
	Malformed    uint64 // verified, but not a readable chat.message.sent body
	ReadError    uint64 // 400/408: body not received in time or broken
	SubmitError  uint64 // 503: not stored (store down, shutdown); Kick retries
	Busy         uint64 // 503: MaxInFlight deliveries already in progress
}

// Map is the snapshot keyed by counter name (accepted, matched, …), for
// exporters that label one metric by reason.
func (c Counters) Map() map[string]uint64 {
	return map[string]uint64{
		"accepted": c.Accepted, "matched": c.Matched, "ignored": c.Ignored,
		"bad_signature": c.BadSignature, "stale": c.Stale, "too_large": c.TooLarge,
		"bad_type": c.BadType, "bad_method": c.BadMethod, "replay": c.Replay,
		"malformed": c.Malformed, "read_error": c.ReadError, "submit_error": c.SubmitError,
		"busy": c.Busy,
	}
}

// Stats returns a snapshot of the counters.
func (rc *Receiver) Stats() Counters {
	n := &rc.stats.n
	return Counters{
		Accepted:     n[cAccepted].Load(),
		Matched:      n[cMatched].Load(),
		Ignored:      n[cIgnored].Load(),
		BadSignature: n[cBadSignature].Load(),
		Stale:        n[cStale].Load(),
		TooLarge:     n[cTooLarge].Load(),
		BadType:      n[cBadType].Load(),
		BadMethod:    n[cBadMethod].Load(),
		Replay:       n[cReplay].Load(),
		Malformed:    n[cMalformed].Load(),
		ReadError:    n[cReadError].Load(),
		SubmitError:  n[cSubmitError].Load(),
		Busy:         n[cBusy].Load(),
	}
}
