package kickhookfake

import (
	"strings"
	"testing"
	"time"
)

func TestNewULID(t *testing.T) {
	// Kick's own delivery 01JQR5KV0QC94HMETWYNBWRW4Z carries its time in the
	// first 10 characters; a ULID made for that millisecond starts the same.
	var ms int64
	for _, c := range "01JQR5KV0Q" {
		ms = ms<<5 | int64(strings.IndexRune(crockford, c))
	}
	at := time.UnixMilli(ms)
	if got, want := at.UTC().Format(time.RFC3339), "2025-04-01T07:56:19Z"; got != want {
		t.Fatalf("decoded time %s, want %s", got, want)
	}
	a, b := NewULID(at), NewULID(at)
	if got, want := a[:10], "01JQR5KV0Q"; got != want {
		t.Errorf("time part %q, want %q", got, want)
	}
	if len(a) != 26 || a == b || strings.Trim(a, crockford) != "" {
		t.Errorf("ULIDs %q, %q: want 26 distinct Crockford characters", a, b)
	}
	if later := NewULID(at.Add(time.Millisecond)); later <= a {
		t.Errorf("%q does not sort after %q", later, a)
	}
}
