package breaker

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 8, 20, 7, 7, 44, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// change is one recorded OnStateChange call.
type change struct {
	from, to State
	snap     Snapshot
}

// recorder collects OnStateChange calls.
type recorder struct {
	mu      sync.Mutex
	changes []change
}

func (r *recorder) hook(from, to State, snap Snapshot) {
	r.mu.Lock()
	r.changes = append(r.changes, change{from, to, snap})
	r.mu.Unlock()
}

func (r *recorder) all() []change {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]change(nil), r.changes...)
}

const (
	testThreshold = 3
	testTimeout   = time.Minute
)

func newTestBreaker(t *testing.T, clk *fakeClock, rec *recorder) *Breaker {
	t.Helper()
	s := Settings{
		Name:             "discord",
		FailureThreshold: testThreshold,
		RecoveryTimeout:  testTimeout,
		Now:              clk.Now,
	}
	if rec != nil {
		s.OnStateChange = rec.hook
	}
	return New(s)
}

// allow calls Allow and fails the test unless it returns want.
func allow(t *testing.T, b *Breaker, want error) {
	t.Helper()
	if got := b.Allow(); !errors.Is(got, want) || (want == nil && got != nil) {
		t.Fatalf("Allow()=%v, want %v", got, want)
	}
}

func wantState(t *testing.T, b *Breaker, want State) {
	t.Helper()
	if got := b.State(); got != want {
		t.Fatalf("State()=%v, want %v", got, want)
	}
}

// trip opens b with testThreshold failures.
func trip(t *testing.T, b *Breaker) {
	t.Helper()
	for range testThreshold {
		allow(t, b, nil)
		b.Failure()
	}
	wantState(t, b, Open)
}

func TestState_String(t *testing.T) {
	tests := []struct {
		s    State
		want string
	}{
		{Closed, "closed"},
		{Open, "open"},
		{HalfOpen, "half_open"},
		{State(7), "State(7)"},
	}
	for _, tt := range tests {
		if got := tt.s.String(); got != tt.want {
			t.Errorf("State(%d).String()=%q, want %q", int(tt.s), got, tt.want)
		}
		if tt.s > HalfOpen {
			if _, err := ParseState(tt.want); err == nil {
				t.Errorf("ParseState(%q) succeeded, want error", tt.want)
			}
			continue
		}
		if got, err := ParseState(tt.want); err != nil || got != tt.s {
			t.Errorf("ParseState(%q)=%v, %v, want %v", tt.want, got, err, tt.s)
		}
	}
}

func TestNew_Defaults(t *testing.T) {
	b := New(Settings{Name: "x"})
	if got, want := b.Name(), "x"; got != want {
		t.Fatalf("Name()=%q, want %q", got, want)
	}
	for i := range DefaultFailureThreshold {
		allow(t, b, nil)
		b.Failure()
		if i < DefaultFailureThreshold-1 {
			wantState(t, b, Closed)
		}
	}
	wantState(t, b, Open)
	snap := b.Snapshot()
	if got, want := b.ReadyAt().Sub(snap.OpenedAt), DefaultRecoveryTimeout; got != want {
		t.Fatalf("ReadyAt-OpenedAt=%v, want %v", got, want)
	}
	if since := time.Since(snap.OpenedAt); since < 0 || since > time.Minute {
		t.Fatalf("OpenedAt=%v is not from time.Now", snap.OpenedAt)
	}
}

func TestBreaker_ThresholdOpens(t *testing.T) {
	tests := []struct {
		name     string
		results  string // per allowed call: f=Failure, s=Success, r=Release
		want     State
		failures int
	}{
		{"no calls", "", Closed, 0},
		{"below threshold", "ff", Closed, 2},
		{"at threshold", "fff", Open, 3},
		{"success resets count", "ffsff", Closed, 2},
		{"release does not count or reset", "ffrf", Open, 3},
		{"success then threshold", "sfff", Open, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			b := newTestBreaker(t, clk, nil)
			for _, r := range tt.results {
				allow(t, b, nil)
				switch r {
				case 'f':
					b.Failure()
				case 's':
					b.Success()
				case 'r':
					b.Release()
				}
			}
			wantState(t, b, tt.want)
			snap := b.Snapshot()
			if snap.Failures != tt.failures {
				t.Fatalf("Failures=%d, want %d", snap.Failures, tt.failures)
			}
			if got, want := snap.OpenedAt.IsZero(), tt.want != Open; got != want {
				t.Fatalf("OpenedAt=%v, want zero=%v", snap.OpenedAt, want)
			}
		})
	}
}

func TestBreaker_OpenRejects(t *testing.T) {
	clk := newFakeClock()
	b := newTestBreaker(t, clk, nil)
	opened := clk.Now()
	trip(t, b)
	if got, want := b.ReadyAt(), opened.Add(testTimeout); !got.Equal(want) {
		t.Fatalf("ReadyAt()=%v, want %v", got, want)
	}
	for _, d := range []time.Duration{0, time.Second, testTimeout - time.Nanosecond} {
		clk.Set(opened.Add(d))
		allow(t, b, ErrOpen)
		wantState(t, b, Open)
	}
	// Stale results from calls allowed before it opened change nothing.
	b.Success()
	b.Failure()
	b.Release()
	if got := b.Snapshot(); got.State != Open || !got.OpenedAt.Equal(opened) {
		t.Fatalf("after stale results: %+v, want open since %v", got, opened)
	}
}

func TestBreaker_HalfOpenOneProbe(t *testing.T) {
	clk := newFakeClock()
	b := newTestBreaker(t, clk, nil)
	trip(t, b)
	clk.Advance(testTimeout)
	if got := b.ReadyAt(); got.IsZero() {
		t.Fatalf("ReadyAt()=zero before the lazy move to half-open, want OpenedAt+timeout")
	}
	allow(t, b, nil)
	wantState(t, b, HalfOpen)
	if got := b.ReadyAt(); !got.IsZero() {
		t.Fatalf("ReadyAt()=%v in half-open, want zero", got)
	}
	allow(t, b, ErrTooManyProbes)
	allow(t, b, ErrTooManyProbes)
	if got, want := b.Snapshot().Probes, 1; got != want {
		t.Fatalf("Probes=%d, want %d", got, want)
	}
}

func TestBreaker_ProbeOutcome(t *testing.T) {
	tests := []struct {
		name   string
		report func(*Breaker)
		want   State
	}{
		{"success closes", (*Breaker).Success, Closed},
		{"failure re-opens", (*Breaker).Failure, Open},
		{"release frees the probe", (*Breaker).Release, HalfOpen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newFakeClock()
			b := newTestBreaker(t, clk, nil)
			trip(t, b)
			clk.Advance(testTimeout + 5*time.Second)
			probeAt := clk.Now()
			allow(t, b, nil)
			clk.Advance(2 * time.Second)
			reportedAt := clk.Now()
			tt.report(b)
			wantState(t, b, tt.want)
			snap := b.Snapshot()
			switch tt.want {
			case Closed:
				if snap.Failures != 0 || !snap.OpenedAt.IsZero() || snap.Probes != 0 {
					t.Fatalf("closed snapshot %+v, want no failures, zero OpenedAt, no probes", snap)
				}
				allow(t, b, nil)
			case Open:
				if !snap.OpenedAt.Equal(reportedAt) {
					t.Fatalf("OpenedAt=%v, want the probe failure time %v", snap.OpenedAt, reportedAt)
				}
				if got, want := b.ReadyAt(), reportedAt.Add(testTimeout); !got.Equal(want) {
					t.Fatalf("ReadyAt()=%v, want %v", got, want)
				}
				clk.Set(reportedAt.Add(testTimeout - time.Nanosecond))
				allow(t, b, ErrOpen)
				clk.Set(reportedAt.Add(testTimeout))
				allow(t, b, nil)
			case HalfOpen:
				if snap.Probes != 0 {
					t.Fatalf("Probes=%d after Release, want 0", snap.Probes)
				}
				if snap.OpenedAt.After(probeAt) {
					t.Fatalf("OpenedAt=%v moved on Release", snap.OpenedAt)
				}
				allow(t, b, nil) // the freed slot
				allow(t, b, ErrTooManyProbes)
			}
		})
	}
}

func TestBreaker_MaxProbes(t *testing.T) {
	clk := newFakeClock()
	b := New(Settings{FailureThreshold: 2, RecoveryTimeout: time.Second, MaxProbes: 3, Now: clk.Now})
	for range 2 {
		allow(t, b, nil)
		b.Failure()
	}
	clk.Advance(time.Second)
	for range 3 {
		allow(t, b, nil)
	}
	allow(t, b, ErrTooManyProbes)
	b.Release()
	allow(t, b, nil)
	b.Success()
	wantState(t, b, Closed)
	// The other probes finish after it closed; they count as closed-state results.
	b.Failure()
	if got := b.Snapshot().Failures; got != 1 {
		t.Fatalf("Failures=%d, want 1", got)
	}
	b.Success()
	if got := b.Snapshot().Failures; got != 0 {
		t.Fatalf("Failures=%d, want 0", got)
	}
}

func TestBreaker_HookOncePerTransition(t *testing.T) {
	clk := newFakeClock()
	rec := &recorder{}
	b := newTestBreaker(t, clk, rec)
	t0 := clk.Now()

	allow(t, b, nil)
	b.Failure()
	allow(t, b, nil)
	b.Success() // no transition
	trip(t, b)  // closed → open at t0
	allow(t, b, ErrOpen)
	wantState(t, b, Open)

	clk.Advance(testTimeout)
	t1 := clk.Now()
	wantState(t, b, HalfOpen) // open → half-open, lazily in State
	wantState(t, b, HalfOpen) // no second report
	allow(t, b, nil)
	b.Failure() // half-open → open at t1

	clk.Advance(testTimeout)
	t2 := clk.Now()
	allow(t, b, nil) // open → half-open, lazily in Allow
	b.Release()
	allow(t, b, nil)
	b.Success() // half-open → closed

	want := []change{
		{Closed, Open, Snapshot{Name: "discord", State: Open, Failures: 3, OpenedAt: t0, UpdatedAt: t0}},
		{Open, HalfOpen, Snapshot{Name: "discord", State: HalfOpen, Failures: 3, OpenedAt: t0, UpdatedAt: t1}},
		{HalfOpen, Open, Snapshot{Name: "discord", State: Open, Failures: 4, OpenedAt: t1, UpdatedAt: t1}},
		{Open, HalfOpen, Snapshot{Name: "discord", State: HalfOpen, Failures: 4, OpenedAt: t1, UpdatedAt: t2}},
		{HalfOpen, Closed, Snapshot{Name: "discord", State: Closed, UpdatedAt: t2}},
	}
	got := rec.all()
	if len(got) != len(want) {
		t.Fatalf("got %d hook calls %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("hook call %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

// TestBreaker_HookOutsideLock checks the hook may read other state while the
// breaker is usable from other goroutines: it must not run under the lock.
func TestBreaker_HookOutsideLock(t *testing.T) {
	clk := newFakeClock()
	var b *Breaker
	called := make(chan State, 1)
	b = New(Settings{FailureThreshold: 1, Now: clk.Now, OnStateChange: func(_, to State, _ Snapshot) {
		// Snapshot takes the breaker's lock: this would deadlock if the hook
		// ran under it. (Reading is fine; causing a transition is not.)
		called <- b.Snapshot().State
	}})
	allow(t, b, nil)
	b.Failure()
	if got := <-called; got != Open {
		t.Fatalf("state seen from the hook=%v, want %v", got, Open)
	}
}

func TestBreaker_Concurrent(t *testing.T) {
	clk := newFakeClock()
	rec := &recorder{}
	b := New(Settings{FailureThreshold: 2, RecoveryTimeout: time.Second, MaxProbes: 2, Now: clk.Now, OnStateChange: rec.hook})
	const workers, rounds = 8, 2000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range rounds {
				if (w+i)%50 == 0 {
					clk.Advance(300 * time.Millisecond)
				}
				if err := b.Allow(); err != nil {
					continue
				}
				switch (w*7 + i) % 3 {
				case 0:
					b.Success()
				case 1:
					b.Failure()
				default:
					b.Release()
				}
				_ = b.State()
				_ = b.ReadyAt()
			}
		})
	}
	wg.Wait()

	// Transitions are reported in order: each starts where the previous ended.
	changes := rec.all()
	if len(changes) == 0 {
		t.Fatalf("no transitions in %d calls", workers*rounds)
	}
	prev := Closed
	for i, c := range changes {
		if c.from != prev || c.snap.State != c.to || c.from == c.to {
			t.Fatalf("change %d: %v→%v (snapshot %v) after %v", i, c.from, c.to, c.snap.State, prev)
		}
		prev = c.to
	}
	if got := b.Snapshot().State; got != prev {
		t.Fatalf("final state %v, last reported %v", got, prev)
	}
}

func BenchmarkAllowSuccess(b *testing.B) {
	br := New(Settings{Name: "bench"})
	b.ReportAllocs()
	for b.Loop() {
		if err := br.Allow(); err != nil {
			b.Fatal(err)
		}
		br.Success()
	}
}

func BenchmarkAllowOpen(b *testing.B) {
	br := New(Settings{Name: "bench", FailureThreshold: 1, RecoveryTimeout: time.Hour})
	_ = br.Allow()
	br.Failure()
	b.ReportAllocs()
	for b.Loop() {
		if err := br.Allow(); err != ErrOpen {
			b.Fatal(err)
		}
	}
}

func BenchmarkAllowSuccessParallel(b *testing.B) {
	br := New(Settings{Name: "bench"})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := br.Allow(); err != nil {
				b.Fatal(err)
			}
			br.Success()
		}
	})
}
