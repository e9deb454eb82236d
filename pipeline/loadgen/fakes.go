package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"

	"kickwatch/pipeline/discord/discordfake"
)

// discordSide is the Discord fake with the load run's bookkeeping: which
// mentions arrived when, and how the fake answered.
type discordSide struct {
	fake  *discordfake.Server
	track *tracker

	mu       sync.Mutex
	requests int
	ok       int
	status   map[int]int
	embeds   int // embeds in accepted requests
}

// newDiscordSide starts the fake with o (the rate limits of the run).
func newDiscordSide(o discordfake.Options, t *tracker) *discordSide {
	d := &discordSide{track: t, status: map[int]int{}}
	o.MaxRecorded = 64 // the run's own counters replace the recording
	o.OnRequest = d.onRequest
	d.fake = discordfake.New(o)
	return d
}

func (d *discordSide) onRequest(r discordfake.Request) {
	d.mu.Lock()
	d.requests++
	d.status[r.Status]++
	var seqs []int64
	if r.Status == http.StatusOK || r.Status == http.StatusNoContent {
		d.ok++
		if r.Payload != nil {
			d.embeds += len(r.Payload.Embeds)
			seqs = payloadMarkers(r.Payload)
		}
	}
	d.mu.Unlock()
	if len(seqs) > 0 {
		d.track.arrived(r.At, seqs)
	}
}

// discordCounts is what the Discord fake saw.
type discordCounts struct {
	Requests int
	Accepted int
	Embeds   int
	Status   map[int]int
	Early    int // requests sent while the last answer said the bucket was empty
}

func (d *discordSide) counts() discordCounts {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := make(map[int]int, len(d.status))
	for k, v := range d.status {
		st[k] = v
	}
	return discordCounts{Requests: d.requests, Accepted: d.ok, Embeds: d.embeds, Status: st, Early: d.fake.Early()}
}

// postgrestFake is a PostgREST table endpoint as kickwatch's remote_db sink
// uses it (reference discord-and-postgrest.md B3): POST
// /rest/v1/kick_notifications?on_conflict=message_id with
// Prefer: resolution=ignore-duplicates,return=minimal answers 201 with no
// body and Content-Range: */*. It only counts rows.
type postgrestFake struct {
	srv  *httptest.Server
	key  string
	rows atomic.Int64
	reqs atomic.Int64
}

// maxPostgRESTBody bounds one request body (100 rows are far below it).
const maxPostgRESTBody = 8 << 20

func newPostgRESTFake(key string) *postgrestFake {
	f := &postgrestFake{key: key}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	return f
}

// URL is the API root for remote_db.url.
func (f *postgrestFake) URL() string { return f.srv.URL + "/rest/v1" }

func (f *postgrestFake) Close() { f.srv.Close() }

func (f *postgrestFake) serve(w http.ResponseWriter, r *http.Request) {
	f.reqs.Add(1)
	body, err := io.ReadAll(io.LimitReader(r.Body, maxPostgRESTBody+1))
	if err != nil {
		return
	}
	pgError := func(status int, code, msg string) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		b, _ := json.Marshal(map[string]any{"code": code, "message": msg, "details": nil, "hint": nil})
		w.Write(b)
	}
	if r.Header.Get("apikey") != f.key {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"message":"Invalid API key","hint":"Double check your Supabase `+"`anon`"+` or `+"`service_role`"+` API key."}`)
		return
	}
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/rest/v1/kick_notifications") {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{}`)
		return
	}
	if len(body) > maxPostgRESTBody {
		pgError(http.StatusRequestEntityTooLarge, "PGRST413", "Payload Too Large")
		return
	}
	var rows []json.RawMessage
	if err := json.Unmarshal(body, &rows); err != nil || len(rows) == 0 {
		pgError(http.StatusBadRequest, "PGRST102", "Empty or invalid json")
		return
	}
	f.rows.Add(int64(len(rows)))
	w.Header().Set("Content-Range", "*/*")
	if strings.Contains(r.Header.Get("Prefer"), "resolution=ignore-duplicates") {
		w.Header().Set("Preference-Applied", "resolution=ignore-duplicates")
	}
	w.WriteHeader(http.StatusCreated)
}
