// Package breaker is a consecutive-failure circuit breaker whose state can be
// persisted and restored across restarts.
//
// A Breaker is Closed (calls pass), Open (calls are refused with ErrOpen) or
// HalfOpen (a limited number of probe calls pass to test the peer):
//
//   - Closed: every Failure adds to a count of consecutive failures; a Success
//     resets it. When the count reaches FailureThreshold the breaker opens and
//     records OpenedAt.
//   - Open: Allow returns ErrOpen until RecoveryTimeout has passed since
//     OpenedAt. The move to HalfOpen happens lazily, inside the first Allow or
//     State call at or after OpenedAt+RecoveryTimeout (ReadyAt).
//   - HalfOpen: Allow lets up to MaxProbes calls through at once and refuses
//     the rest with ErrTooManyProbes. A probe's Success closes the breaker; its
//     Failure opens it again with a new OpenedAt; Release frees its slot
//     without deciding anything.
//
// What counts as a failure is the caller's decision: a caller whose Allow
// returned nil reports exactly one of Success, Failure or Release. Release is
// for answers that say nothing about the peer's health, such as HTTP 429 or a
// cancelled context.
//
// Results that arrive while the breaker is Open, or while it is HalfOpen with
// no probe in flight, come from calls allowed before the breaker opened; they
// are stale and ignored, like gobreaker's generation check.
//
// Every transition is reported to Settings.OnStateChange with a Snapshot,
// outside the breaker's lock and in the order the transitions happened, so the
// caller can persist it. After a restart, Restore puts the persisted state
// back: an open breaker stays open until RecoveryTimeout after it originally
// opened, not after the restart. Persisting on transitions (not on every call)
// keeps the cost to one store write per state change.
package breaker

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// Defaults used for zero or negative Settings fields.
const (
	// DefaultFailureThreshold matches gobreaker's default trip point.
	DefaultFailureThreshold = 5
	// DefaultRecoveryTimeout matches gobreaker's default open period.
	DefaultRecoveryTimeout = 60 * time.Second
	// DefaultMaxProbes lets one call test a recovering peer.
	DefaultMaxProbes = 1
)

// ErrOpen is returned by Allow while the breaker is open.
var ErrOpen = errors.New("circuit breaker is open")

// ErrTooManyProbes is returned by Allow while the breaker is half-open and
// MaxProbes probes are already in flight.
var ErrTooManyProbes = errors.New("circuit breaker is half-open: probe in flight")

// State is a breaker's state.
type State int

// The breaker states.
const (
	Closed State = iota
	Open
	HalfOpen
)

// String returns "closed", "open" or "half_open" (the persisted form).
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half_open"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// ParseState is the inverse of State.String.
func ParseState(s string) (State, error) {
	switch s {
	case "closed":
		return Closed, nil
	case "open":
		return Open, nil
	case "half_open":
		return HalfOpen, nil
	}
	return Closed, fmt.Errorf("parse breaker state %q: unknown state", s)
}

// Snapshot is a breaker's state as the store persists it (on every state
// transition, not on every call).
type Snapshot struct {
	Name      string
	State     State
	Failures  int       // consecutive failures
	OpenedAt  time.Time // zero unless Open/HalfOpen
	Probes    int       // half-open probes in flight
	UpdatedAt time.Time // when the state last changed (or was restored)
}

// Settings configure a Breaker. Zero values take the defaults.
type Settings struct {
	Name             string
	FailureThreshold int              // consecutive failures that open it (default 5)
	RecoveryTimeout  time.Duration    // open → half-open after this, counted from OpenedAt (default 60s)
	MaxProbes        int              // half-open requests allowed at once (default 1)
	Now              func() time.Time // default time.Now
	// OnStateChange is called after every transition, outside the breaker's lock,
	// with the snapshot to persist. It must not call back into the breaker.
	OnStateChange func(from, to State, snap Snapshot)
}

// transition is one state change waiting to be reported.
type transition struct {
	from, to State
	snap     Snapshot
}

// Breaker is a circuit breaker. All methods are safe for concurrent use.
type Breaker struct {
	name      string
	threshold int
	timeout   time.Duration
	maxProbes int
	now       func() time.Time
	onChange  func(from, to State, snap Snapshot)

	// hookMu serialises OnStateChange calls so they arrive in order; it is
	// always taken before mu, never while holding it.
	hookMu sync.Mutex

	mu        sync.Mutex
	state     State
	failures  int
	openedAt  time.Time
	probes    int
	updatedAt time.Time
	pending   []transition // transitions not yet reported, oldest first
}

// New returns a closed breaker configured by s.
func New(s Settings) *Breaker {
	b := &Breaker{
		name:      s.Name,
		threshold: s.FailureThreshold,
		timeout:   s.RecoveryTimeout,
		maxProbes: s.MaxProbes,
		now:       s.Now,
		onChange:  s.OnStateChange,
	}
	if b.threshold <= 0 {
		b.threshold = DefaultFailureThreshold
	}
	if b.timeout <= 0 {
		b.timeout = DefaultRecoveryTimeout
	}
	if b.maxProbes <= 0 {
		b.maxProbes = DefaultMaxProbes
	}
	if b.now == nil {
		b.now = time.Now
	}
	return b
}

// Name returns the breaker's name.
func (b *Breaker) Name() string { return b.name }

// Allow asks to make one call. On nil the caller must report exactly one of
// Success, Failure or Release; otherwise the error is ErrOpen or
// ErrTooManyProbes and nothing is to be reported.
func (b *Breaker) Allow() error {
	b.mu.Lock()
	if b.state == Closed {
		b.mu.Unlock()
		return nil
	}
	changed := b.advanceLocked()
	var err error
	switch {
	case b.state == Open:
		err = ErrOpen
	case b.probes >= b.maxProbes:
		err = ErrTooManyProbes
	default:
		b.probes++
	}
	b.mu.Unlock()
	if changed {
		b.notify()
	}
	return err
}

// Success reports that an allowed call succeeded: it resets the failure count
// and closes a half-open breaker.
func (b *Breaker) Success() {
	b.mu.Lock()
	changed := false
	switch b.state {
	case Closed:
		b.failures = 0
	case HalfOpen:
		if b.probes > 0 {
			b.failures = 0
			b.openedAt = time.Time{}
			b.probes = 0
			b.setLocked(HalfOpen, Closed, b.now())
			changed = true
		}
	}
	b.mu.Unlock()
	if changed {
		b.notify()
	}
}

// Failure reports that an allowed call failed: it counts towards
// FailureThreshold while closed, and re-opens a half-open breaker with
// OpenedAt set to now.
func (b *Breaker) Failure() {
	b.mu.Lock()
	changed := false
	switch b.state {
	case Closed:
		b.failures++
		if b.failures >= b.threshold {
			now := b.now()
			b.openedAt = now
			b.setLocked(Closed, Open, now)
			changed = true
		}
	case HalfOpen:
		if b.probes > 0 {
			now := b.now()
			b.failures++
			b.openedAt = now
			b.probes = 0
			b.setLocked(HalfOpen, Open, now)
			changed = true
		}
	}
	b.mu.Unlock()
	if changed {
		b.notify()
	}
}

// Release reports that an allowed call ended without saying anything about
// the peer's health (a rate limit, a cancelled context). It frees a
// half-open probe slot and counts nothing.
func (b *Breaker) Release() {
	b.mu.Lock()
	if b.state == HalfOpen && b.probes > 0 {
		b.probes--
	}
	b.mu.Unlock()
}

// State returns the current state, first moving an open breaker to half-open
// if RecoveryTimeout has passed since it opened.
func (b *Breaker) State() State {
	b.mu.Lock()
	changed := b.advanceLocked()
	s := b.state
	b.mu.Unlock()
	if changed {
		b.notify()
	}
	return s
}

// ReadyAt returns when an open breaker lets a probe through
// (OpenedAt+RecoveryTimeout), which may already have passed if no Allow or
// State call has moved it to half-open yet. It is zero unless the breaker is
// open.
func (b *Breaker) ReadyAt() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state != Open {
		return time.Time{}
	}
	return b.openedAt.Add(b.timeout)
}

// Snapshot returns the breaker's state as it stands, without moving it.
func (b *Breaker) Snapshot() Snapshot {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.snapshotLocked()
}

// Restore replaces the breaker's state with s, typically read from the store
// after a restart. s.Name is ignored. An open breaker stays open until
// RecoveryTimeout after s.OpenedAt; a half-open one comes back open with the
// same OpenedAt, since its probes died with the process. An OpenedAt in the
// future (the clock went back, as on a Raspberry Pi without a real-time clock
// before NTP syncs) is clamped to now so the breaker cannot stay open for
// longer than RecoveryTimeout. An unknown state restores as closed. Restore
// does not call OnStateChange: the state came from the store.
func (b *Breaker) Restore(s Snapshot) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.probes = 0
	b.failures = max(s.Failures, 0)
	b.updatedAt = s.UpdatedAt
	switch s.State {
	case Open, HalfOpen:
		b.state = Open
		b.openedAt = s.OpenedAt
		if now := b.now(); b.openedAt.After(now) {
			b.openedAt = now
		}
	default:
		b.state = Closed
		b.openedAt = time.Time{}
	}
}

// advanceLocked moves an open breaker to half-open once RecoveryTimeout has
// passed and reports whether it did.
func (b *Breaker) advanceLocked() bool {
	if b.state != Open {
		return false
	}
	now := b.now()
	if now.Before(b.openedAt) {
		// The wall clock went back; count the timeout from now instead of
		// waiting for the clock to catch up.
		b.openedAt = now
	}
	if now.Sub(b.openedAt) < b.timeout {
		return false
	}
	b.probes = 0
	b.setLocked(Open, HalfOpen, now)
	return true
}

// setLocked records a transition to be reported by notify.
func (b *Breaker) setLocked(from, to State, now time.Time) {
	b.state = to
	b.updatedAt = now
	if b.onChange != nil {
		b.pending = append(b.pending, transition{from: from, to: to, snap: b.snapshotLocked()})
	}
}

func (b *Breaker) snapshotLocked() Snapshot {
	return Snapshot{
		Name:      b.name,
		State:     b.state,
		Failures:  b.failures,
		OpenedAt:  b.openedAt,
		Probes:    b.probes,
		UpdatedAt: b.updatedAt,
	}
}

// notify reports pending transitions in order, outside mu. Whoever holds
// hookMu drains every transition queued so far, so none is reported twice or
// out of order even when several goroutines cause transitions at once.
func (b *Breaker) notify() {
	if b.onChange == nil {
		return
	}
	b.hookMu.Lock()
	defer b.hookMu.Unlock()
	b.mu.Lock()
	pending := b.pending
	b.pending = nil
	b.mu.Unlock()
	for _, t := range pending {
		b.onChange(t.from, t.to, t.snap)
	}
}
