package centrifugo

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"kickwatch/pipeline/centrifugo/centrifake"
)

func TestClient_CloseCodes(t *testing.T) {
	tests := []struct {
		code     int
		terminal bool
		push     bool // push.disconnect before the close frame
	}{
		{3000, false, false}, {3005, false, false}, {3012, false, false}, {3499, false, false},
		{4000, false, false}, {4499, false, false},
		{3500, true, false}, {3504, true, false}, {3999, true, false}, {4500, true, false}, {4501, true, false}, {4999, true, false},
		{3001, false, true}, {3503, true, true}, {4501, true, true},
		{5000, false, true}, // ≥ 5000 cannot travel in a WebSocket close frame
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d push=%v", tt.code, tt.push), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := newFakeEnv(t, centrifake.Options{})
				tk := &tokens{}
				c := newTestClient(t, e, tk, nil)
				c.SetChannels(channels(7))
				r := newRecorder()
				run(t, c, r)
				conn := nextConn(t, e)
				subscribed(t, r, 7)
				if tt.push {
					conn.DisconnectPush(tt.code, "test")
				} else {
					conn.Disconnect(tt.code, "test")
				}
				var de *DisconnectError
				if err := r.waitDown(t); !errors.As(err, &de) || de.Code != tt.code || de.Terminal() != tt.terminal {
					t.Fatalf("down because %v, want close %d (terminal %v)", err, tt.code, tt.terminal)
				}
				start := time.Now()
				next := nextConn(t, e)
				nextCmd(t, next, "connect")
				waited := since(start)
				ids := tk.calls()
				if tt.terminal {
					if waited < 5*time.Minute || waited > 5*time.Minute*5/4 {
						t.Errorf("reconnected after %v, want 5 min to 6 min 15 s", waited)
					}
					if ids[0] == ids[1] {
						t.Errorf("terminal close: reconnected with the same client id %s", ids[0])
					}
				} else {
					if waited < 750*time.Millisecond || waited > 1250*time.Millisecond {
						t.Errorf("reconnected after %v, want about 1 s", waited)
					}
					if ids[0] != ids[1] {
						t.Errorf("ordinary close: client id changed from %s to %s", ids[0], ids[1])
					}
				}
				subscribed(t, r, 7)
			})
		})
	}
}

func TestClient_BackoffGrowsAndResetsOnceSubscribed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var refuse atomic.Bool
		refuse.Store(true)
		e := newFakeEnv(t, centrifake.Options{Authorize: func(string, bool) error {
			if refuse.Load() {
				return &centrifake.Close{Code: 3004, Reason: "internal server error"}
			}
			return nil
		}})
		c := newTestClient(t, e, &tokens{}, nil)
		c.SetChannels(channels(1))
		r := newRecorder()
		run(t, c, r)
		last := time.Now()
		waitEnded(t, nextConn(t, e))
		// 1 s doubling to 30 s, each ±25 %.
		for i, base := range []time.Duration{1, 2, 4, 8, 16, 30, 30} {
			conn := nextConn(t, e)
			waited := since(last)
			last = time.Now()
			if lo, hi := base*time.Second*3/4, base*time.Second*5/4; waited < lo || waited > hi {
				t.Errorf("wait %d = %v, want %v to %v", i+1, waited, lo, hi)
			}
			waitEnded(t, conn)
		}
		refuse.Store(false)
		conn := nextConn(t, e)
		subscribed(t, r, 1)
		conn.Disconnect(3000, "bye")
		last = time.Now()
		nextConn(t, e)
		if got := since(last); got < 750*time.Millisecond || got > 1250*time.Millisecond {
			t.Errorf("wait after a subscribed connection = %v, want about 1 s (backoff reset)", got)
		}
	})
}

func TestClient_TerminalWaitsGrowAndNeverStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newFakeEnv(t, centrifake.Options{Authorize: func(string, bool) error {
			return &centrifake.Close{Code: 3500, Reason: "invalid token"}
		}})
		tk := &tokens{}
		c := newTestClient(t, e, tk, nil)
		r := newRecorder()
		run(t, c, r)
		waitEnded(t, nextConn(t, e))
		for i, base := range []time.Duration{5, 10, 20, 30, 30, 30} {
			start := time.Now()
			conn := nextConn(t, e)
			waited := since(start)
			if lo, hi := base*time.Minute, base*time.Minute*5/4; waited < lo || waited > hi {
				t.Errorf("terminal wait %d = %v, want %v to %v", i+1, waited, lo, hi)
			}
			waitEnded(t, conn)
		}
		seen := map[string]bool{}
		for _, id := range tk.calls() {
			if seen[id] {
				t.Errorf("client id %s used again after a terminal close", id)
			}
			seen[id] = true
		}
	})
}

func TestClient_WrongOriginGets403(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newFakeEnv(t, centrifake.Options{})
		tk := &tokens{}
		c := newTestClient(t, e, tk, func(c *Config) { c.Origin = "https://evil.example" })
		r := newRecorder()
		run(t, c, r)
		var downs []time.Time
		for range maxRefusals + 1 {
			err := r.waitDown(t)
			if err == nil || !strings.Contains(err.Error(), "HTTP 403") {
				t.Fatalf("down because %v, want a handshake refused with HTTP 403", err)
			}
			downs = append(downs, time.Now())
		}
		// Four ordinary waits, then the refusals count as a terminal close.
		if got := downs[maxRefusals-1].Sub(downs[0]); got > 20*time.Second {
			t.Errorf("first %d refusals took %v, want ordinary backoff", maxRefusals, got)
		}
		if got := downs[maxRefusals].Sub(downs[maxRefusals-1]); got < 5*time.Minute || got > 5*time.Minute*5/4 {
			t.Errorf("wait after %d refusals = %v, want the 5-minute terminal wait", maxRefusals, got)
		}
		ids := tk.calls()
		if ids[maxRefusals] == ids[maxRefusals-1] {
			t.Errorf("after %d refusals: still client id %s, want a new one", maxRefusals, ids[maxRefusals])
		}
	})
}

// fakeBreaker records the reports and refuses while open.
type fakeBreaker struct {
	mu      sync.Mutex
	open    bool
	readyAt time.Time
	log     []string
}

func (b *fakeBreaker) note(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.log = append(b.log, s)
}

func (b *fakeBreaker) calls() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.log, " ")
}

func (b *fakeBreaker) Allow() error {
	if b.open && time.Now().Before(b.readyAt) {
		b.note("refused")
		return errors.New("circuit breaker is open")
	}
	b.note("allow")
	return nil
}
func (b *fakeBreaker) Success()           { b.note("success") }
func (b *fakeBreaker) Failure()           { b.note("failure") }
func (b *fakeBreaker) Release()           { b.note("release") }
func (b *fakeBreaker) ReadyAt() time.Time { return b.readyAt }

func TestClient_Breaker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newFakeEnv(t, centrifake.Options{})
		br := &fakeBreaker{open: true, readyAt: time.Now().Add(time.Minute)}
		c := newTestClient(t, e, &tokens{}, func(c *Config) { c.Breaker = br })
		c.SetChannels(channels(1))
		r := newRecorder()
		run(t, c, r)
		start := time.Now()
		conn := nextConn(t, e)
		if got := since(start); got != time.Minute {
			t.Errorf("first attempt after %v, want when the breaker is ready (1m)", got)
		}
		subscribed(t, r, 1)
		conn.Disconnect(3000, "bye")
		nextCmd(t, nextConn(t, e), "connect")
		subscribed(t, r, 1)
		if got, want := br.calls(), "refused allow success allow success"; got != want {
			t.Errorf("breaker calls %q, want %q", got, want)
		}
	})
}
