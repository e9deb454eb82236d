package app

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"kickwatch/pipeline"
)

// fakeTransport runs until its context ends (or end is closed) and records
// the channels it was given.
type fakeTransport struct {
	mu       sync.Mutex
	running  bool
	runs     int
	channels []pipeline.Channel
	end      chan struct{}
}

func (f *fakeTransport) SetChannels(chs []pipeline.Channel) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.channels = chs
}

func (f *fakeTransport) Run(ctx context.Context, _ pipeline.Handler) error {
	f.mu.Lock()
	f.running, f.runs = true, f.runs+1
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.running = false
		f.mu.Unlock()
	}()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-f.end:
		return errors.New("transport ended")
	}
}

func (f *fakeTransport) state() (bool, int, []pipeline.Channel) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.running, f.runs, f.channels
}

func TestAutoTransport_SwitchesOnceNegotiationSucceeds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fallback := &fakeTransport{end: make(chan struct{})}
		better := &fakeTransport{end: make(chan struct{})}
		asked := 0
		a := &autoTransport{log: slog.New(slog.DiscardHandler), every: time.Minute, current: fallback,
			negotiate: func(ctx context.Context, chs []pipeline.Channel) pipeline.Transport {
				asked++
				if asked < 3 {
					return nil // still failing
				}
				return better
			}}
		a.SetChannels([]pipeline.Channel{{Slug: "a", ChatroomID: 1}})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx, nil) }()

		time.Sleep(2*time.Minute + time.Second)
		synctest.Wait()
		if running, _, _ := fallback.state(); !running || asked != 2 {
			t.Fatalf("after two failed negotiations: fallback running=%v, asked=%d", running, asked)
		}
		a.SetChannels([]pipeline.Channel{{Slug: "a", ChatroomID: 1}, {Slug: "b", ChatroomID: 2}})

		time.Sleep(time.Minute)
		synctest.Wait()
		if running, _, _ := fallback.state(); running {
			t.Error("the fallback still runs after a successful negotiation")
		}
		running, runs, chs := better.state()
		if !running || runs != 1 || len(chs) != 2 {
			t.Fatalf("new transport: running=%v runs=%d channels=%v, want running with both channels", running, runs, chs)
		}
		a.SetChannels([]pipeline.Channel{{Slug: "b", ChatroomID: 2}})
		if _, _, chs := better.state(); len(chs) != 1 {
			t.Errorf("channels after the switch reach %v, want the new transport to get them", chs)
		}

		// No more negotiation once switched.
		time.Sleep(time.Hour)
		synctest.Wait()
		if asked != 3 {
			t.Errorf("asked %d times after switching, want 3 in all", asked)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
	})
}

func TestAutoTransport_ReturnsWhenTheTransportEnds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &fakeTransport{end: make(chan struct{})}
		a := &autoTransport{log: slog.New(slog.DiscardHandler), every: time.Minute, current: tr,
			negotiate: func(context.Context, []pipeline.Channel) pipeline.Transport { return nil }}
		done := make(chan error, 1)
		go func() { done <- a.Run(t.Context(), nil) }()
		synctest.Wait()
		close(tr.end)
		if err := <-done; err == nil || err.Error() != "transport ended" {
			t.Errorf("Run = %v, want the transport's error", err)
		}
	})
}
