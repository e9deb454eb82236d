package postgrest

import (
	"net/http"
	"strings"
	"testing"
)

func TestProbe(t *testing.T) {
	tests := []struct {
		name    string
		answer  canned
		wantErr string // "" for success
	}{
		{"readable", canned{200, map[string]string{"Content-Range": "*/*"}, "[]"}, ""},
		{"jwt refused", canned{401, map[string]string{"WWW-Authenticate": "Bearer"}, pgErr("PGRST301", "JWT expired", nil, nil)}, "API key was refused"},
		{"no grant", canned{401, nil, pgErr("42501", "permission denied for table kick_notifications", nil, nil)}, "GRANT SELECT, INSERT"},
		{"no table", canned{404, nil, pgErr("PGRST205", "Could not find the table 'public.kick_notifications' in the schema cache", nil, nil)}, "not found"},
		{"server error", canned{503, nil, pgErr("PGRST001", "Database client error. Retrying the connection.", nil, nil)}, "probe remote_db"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.then(tt.answer)
			err := newSink(t, Options{URL: f.url(), APIKey: fakeKey}).Probe(t.Context())
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Probe = %v, want nil", err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Probe = %v, want an error containing %q", err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), fakeKey) {
				t.Errorf("error leaks the key: %v", err)
			}
			reqs := f.requests()
			if len(reqs) != 1 || reqs[0].Method != http.MethodGet || !strings.Contains(reqs[0].RawQuery, "limit=0") {
				t.Errorf("requests = %+v, want one GET with limit=0", reqs)
			}
		})
	}
	closed := newFake(t)
	closed.srv.Close()
	if err := newSink(t, Options{URL: closed.url(), APIKey: fakeKey}).Probe(t.Context()); err == nil || strings.Contains(err.Error(), fakeKey) {
		t.Errorf("server down: %v, want a key-free error", err)
	}
}
