package kickhook

import (
	"fmt"
	"testing"
	"time"
)

func TestReplayCache_BoundedAndExpiring(t *testing.T) {
	t0 := time.Date(2025, 8, 20, 7, 0, 0, 0, time.UTC)
	c := newReplayCache(3, 10*time.Minute)
	for i := range 5 {
		c.add(fmt.Sprintf("id%d", i), t0)
	}
	if got, want := c.len(), 3; got != want {
		t.Fatalf("len=%d, want %d", got, want)
	}
	tests := []struct {
		id   string
		at   time.Time
		want bool
	}{
		{"id0", t0, false}, // evicted by size
		{"id1", t0, false},
		{"id2", t0, true},
		{"id4", t0.Add(10 * time.Minute), true},
		{"id4", t0.Add(10*time.Minute + time.Second), false}, // expired
		{"never", t0, false},
	}
	for _, tt := range tests {
		if got := c.seen(tt.id, tt.at); got != tt.want {
			t.Errorf("seen(%s, +%v)=%v, want %v", tt.id, tt.at.Sub(t0), got, tt.want)
		}
	}
	// Re-adding refreshes without taking a second slot.
	c.add("id4", t0.Add(time.Hour))
	if !c.seen("id4", t0.Add(time.Hour)) || c.len() != 3 {
		t.Errorf("refresh: seen=%v len=%d", c.seen("id4", t0.Add(time.Hour)), c.len())
	}
}
