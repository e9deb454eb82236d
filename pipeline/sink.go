package pipeline

import (
	"context"
	"time"
)

// Sink delivers mentions somewhere: Discord, a remote database, the console.
//
// A sink classifies its peer's answers (it knows Discord and PostgREST); what
// to do with each class — backoff, breaker, pause, dead letter — is decided by
// the dispatcher, the same for every sink.
type Sink interface {
	// Name is the sink's stable name; it keys the per-sink state in the outbox.
	Name() string
	// MaxBatch is how many mentions one Deliver call may take.
	MaxBatch() int
	// Deliver sends ms and returns exactly one Result per mention, in order.
	// It must return once ctx is done.
	Deliver(ctx context.Context, ms []Mention) []Result
}

// Outcome is what became of one mention at one sink.
type Outcome int

// The outcomes a sink reports.
const (
	// Delivered: the peer has it (Result.RemoteRef may hold its id there).
	Delivered Outcome = iota
	// Retry: a transient failure (transport error, timeout, 5xx). It counts
	// against the sink's circuit breaker; the mention is retried with backoff,
	// not before Result.RetryAfter when that is set.
	Retry
	// RateLimited: the peer asked us to slow down (429). Not a failure: the
	// sink pauses until Result.RetryAfter has passed and the mention is retried
	// without using up an attempt.
	RateLimited
	// Permanent: the peer refused this mention for good (a 400 naming it). It
	// is dead-lettered with Result.Err.
	Permanent
	// Misconfigured: the sink cannot work as configured (deleted webhook, bad
	// key). The sink pauses, nothing is dropped, readiness turns false.
	Misconfigured
)

func (o Outcome) String() string {
	switch o {
	case Delivered:
		return "delivered"
	case Retry:
		return "retry"
	case RateLimited:
		return "rate_limited"
	case Permanent:
		return "permanent"
	case Misconfigured:
		return "misconfigured"
	}
	return "unknown"
}

// Result is a sink's verdict on one mention.
type Result struct {
	Outcome    Outcome
	RemoteRef  string        // e.g. the Discord message id
	RetryAfter time.Duration // the peer's wait hint (Retry-After), zero if none
	Err        error         // why, for anything but Delivered; never holds a secret
	Timeout    bool          // the attempt ran out of time (counted per operation)
}
