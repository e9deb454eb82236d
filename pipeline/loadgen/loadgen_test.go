package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"kickwatch/pipeline/discord/discordfake"
	"kickwatch/pipeline/e2e"
)

func TestParseStatus(t *testing.T) {
	status := "Name:\tkickwatch\nVmPeak:\t 1262904 kB\nVmHWM:\t   31236 kB\nVmRSS:\t   27512 kB\n" +
		"RssAnon:\t   12800 kB\nRssFile:\t   14712 kB\nThreads:\t9\n"
	var s procSample
	if err := parseStatus([]byte(status), &s); err != nil {
		t.Fatal(err)
	}
	if s.RSSKB != 27512 || s.HWMKB != 31236 || s.AnonKB != 12800 || s.FileKB != 14712 {
		t.Fatalf("got %+v, want rss 27512, hwm 31236, anon 12800, file 14712", s)
	}
	for _, bad := range []string{"Name:\tx\n", "VmRSS:\t12 kB\n", "VmRSS:\tx kB\nVmHWM:\t1 kB\n", "VmRSS:\nVmHWM:\t1 kB\n"} {
		if err := parseStatus([]byte(bad), &procSample{}); err == nil {
			t.Errorf("parseStatus(%q) = nil error, want one", bad)
		}
	}
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		stat string
		want time.Duration
		ok   bool
	}{
		{"4242 (kickwatch) S 1 4242 4242 0 -1 4194560 1540 0 0 0 250 31 0 0 20 0 9 0 1234 0 0", 2810 * time.Millisecond, true},
		{"7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 5 5 0 0 20 0 1 0 1 0 0", 100 * time.Millisecond, true},
		{"7 (short) R 1 2 3", 0, false},
		{"no parenthesis at all", 0, false},
		{"7 (x) R 1 7 7 0 -1 0 0 0 0 0 u 5 0", 0, false},
	}
	for _, tt := range tests {
		got, err := parseStat([]byte(tt.stat))
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseStat(%q) = %v, %v; want %v, ok=%v", tt.stat, got, err, tt.want, tt.ok)
		}
	}
}

func TestReadProcSelf(t *testing.T) {
	s, err := readProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.RSSKB <= 0 || s.HWMKB < s.RSSKB {
		t.Fatalf("rss=%d hwm=%d, want 0 < rss <= hwm", s.RSSKB, s.HWMKB)
	}
}

func TestMarkers(t *testing.T) {
	tests := []struct {
		in   string
		want []int64
	}{
		{"hey @me " + marker(0) + " look", []int64{0}},
		{marker(12) + marker(345), []int64{12, 345}},
		{"lg12 lgz lg-1z xlg7z", []int64{7}},
		{"lg1234567890123456789z", nil}, // longer than any seq
		{"blog post lg", nil},
	}
	for _, tt := range tests {
		if got := markers(tt.in, nil); !slices.Equal(got, tt.want) {
			t.Errorf("markers(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	p := &discordfake.Payload{Embeds: []discordfake.Embed{
		{Fields: []discordfake.Field{{Name: "Message", Value: marker(3)}, {Name: "User", Value: marker(99)}}},
		{Fields: []discordfake.Field{{Name: "Message", Value: "a " + marker(4)}}},
	}}
	if got := payloadMarkers(p); !slices.Equal(got, []int64{3, 4}) {
		t.Errorf("payloadMarkers = %v, want [3 4] (only the Message field counts)", got)
	}
}

func TestPercentile(t *testing.T) {
	ds := make([]time.Duration, 100)
	for i := range ds {
		ds[i] = time.Duration(i+1) * time.Millisecond
	}
	for _, tt := range []struct {
		p    float64
		want time.Duration
	}{{0.5, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}, {0, time.Millisecond}} {
		if got := percentile(ds, tt.p); got != tt.want {
			t.Errorf("percentile(1..100 ms, %v) = %v, want %v", tt.p, got, tt.want)
		}
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("percentile(nil) = %v, want 0", got)
	}
}

func TestTracker(t *testing.T) {
	tr := newTracker()
	t0 := time.Unix(1000, 0)
	for i := range 4 {
		if seq := tr.send(t0.Add(time.Duration(i) * time.Millisecond)); seq != int64(i) {
			t.Fatalf("send %d returned seq %d", i, seq)
		}
	}
	tr.arrived(t0.Add(10*time.Millisecond), []int64{0, 1})
	tr.arrived(t0.Add(20*time.Millisecond), []int64{1, 2, 9}) // 1 again, 9 unknown
	sent, got, _ := tr.counts()
	dups, unknown, first, last := tr.extra()
	if sent != 4 || got != 3 || dups != 1 || unknown != 1 {
		t.Fatalf("sent=%d received=%d dups=%d unknown=%d, want 4 3 1 1", sent, got, dups, unknown)
	}
	if !first.Equal(t0.Add(10*time.Millisecond)) || !last.Equal(t0.Add(20*time.Millisecond)) {
		t.Errorf("first=%v last=%v", first, last)
	}
	ls := tr.stats(0, 4)
	if ls.Sent != 4 || ls.Received != 3 || ls.P50 != 10*time.Millisecond || ls.Max != 18*time.Millisecond {
		t.Errorf("stats = %+v, want 4 sent, 3 received, p50 10ms, max 18ms", ls)
	}
	if ls := tr.stats(1, 2); ls.Sent != 1 || ls.P99 != 9*time.Millisecond {
		t.Errorf("stats(1,2) = %+v, want one mention at 9ms", ls)
	}
}

func TestIdealDrain(t *testing.T) {
	tests := []struct {
		n, lb int
		wb    time.Duration
		lc    int
		wc    time.Duration
		want  time.Duration
	}{
		{1, 5, 2 * time.Second, 30, time.Minute, 0},
		{5, 5, 2 * time.Second, 30, time.Minute, 0},
		{6, 5, 2 * time.Second, 30, time.Minute, 2 * time.Second},
		{30, 5, 2 * time.Second, 30, time.Minute, 10 * time.Second},
		{31, 5, 2 * time.Second, 30, time.Minute, time.Minute},
		{100, 5, 2 * time.Second, 30, time.Minute, 182 * time.Second},
		{1000, 5, 2 * time.Second, 30, time.Minute, 1982 * time.Second},
		{11, 5, 2 * time.Second, 0, 0, 4 * time.Second},
	}
	for _, tt := range tests {
		if got := idealDrain(tt.n, tt.lb, tt.wb, tt.lc, tt.wc); got != tt.want {
			t.Errorf("idealDrain(%d, %d/%v, %d/%v) = %v, want %v", tt.n, tt.lb, tt.wb, tt.lc, tt.wc, got, tt.want)
		}
	}
}

func TestPostgRESTFake(t *testing.T) {
	f := newPostgRESTFake("k")
	defer f.Close()
	post := func(path, key, body string) *http.Response {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, f.srv.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("apikey", key)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Prefer", "resolution=ignore-duplicates,return=minimal")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	tests := []struct {
		path, key, body string
		status          int
	}{
		{"/rest/v1/kick_notifications?on_conflict=message_id", "k", `[{"message_id":"a"},{"message_id":"b"}]`, 201},
		{"/rest/v1/kick_notifications", "wrong", `[{"message_id":"a"}]`, 401},
		{"/rest/v1/other", "k", `[{"message_id":"a"}]`, 404},
		{"/rest/v1/kick_notifications", "k", `not json`, 400},
		{"/rest/v1/kick_notifications", "k", `[]`, 400},
	}
	for _, tt := range tests {
		resp := post(tt.path, tt.key, tt.body)
		if resp.StatusCode != tt.status {
			t.Errorf("POST %s key=%s %s: status %d, want %d", tt.path, tt.key, tt.body, resp.StatusCode, tt.status)
		}
		if resp.StatusCode == 201 && (resp.Header.Get("Content-Range") != "*/*" || resp.Header.Get("Content-Type") != "") {
			t.Errorf("201 headers %v, want Content-Range */* and no Content-Type", resp.Header)
		}
	}
	if got := f.rows.Load(); got != 2 {
		t.Errorf("rows=%d, want 2", got)
	}
}

func TestTrafficMentionShare(t *testing.T) {
	k := e2e.NewKickServer(slog.New(slog.DiscardHandler))
	defer k.Close()
	var chs []e2e.Channel
	for i := range 50 {
		chs = append(chs, e2e.Channel{Slug: fmt.Sprintf("c%d", i), ChatroomID: int64(i + 1)})
	}
	tr := newTracker()
	traffic := newTraffic(k, chs, watchedUser, 0.1, tr)
	for n := range int64(1000) {
		traffic.publish(n)
	}
	if sent, _, _ := tr.counts(); sent != 100 || traffic.mentions.Load() != 100 || traffic.frames.Load() != 1000 {
		t.Fatalf("mentions=%d tracked=%d frames=%d, want 100, 100, 1000", traffic.mentions.Load(), sent, traffic.frames.Load())
	}
	if got := traffic.unrouted.Load(); got != 1000 {
		t.Errorf("unrouted=%d, want 1000 (nobody subscribed)", got)
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		args      []string
		ok        bool
		postgrest string
	}{
		{nil, true, "fake"},
		{[]string{"-mode", "drain"}, true, "off"},
		{[]string{"-mode", "drain", "-postgrest", "fake"}, true, "fake"},
		{[]string{"-mode", "bogus"}, false, ""},
		{[]string{"-mentions", "1.5"}, false, ""},
		{[]string{"-channels", "0"}, false, ""},
		{[]string{"-rate", "0"}, false, ""},
		{[]string{"extra"}, false, ""},
	}
	for _, tt := range tests {
		o, err := parseFlags(tt.args, io.Discard)
		if (err == nil) != tt.ok {
			t.Errorf("parseFlags(%q): err=%v, want ok=%v", tt.args, err, tt.ok)
			continue
		}
		if tt.ok && o.postgrest != tt.postgrest {
			t.Errorf("parseFlags(%q): postgrest=%q, want %q", tt.args, o.postgrest, tt.postgrest)
		}
	}
}

// TestRun_Modes runs each mode briefly against the real binary and checks
// the report is complete; the figures themselves are BENCHMARKS.md's job.
func TestRun_Modes(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want map[string]*regexp.Regexp // figure name prefix → value pattern
	}{
		{"latency", []string{"-rate", "200", "-channels", "3", "-duration", "1s", "-warmup", "200ms"},
			map[string]*regexp.Regexp{
				"frame → Discord fake latency p99": regexp.MustCompile(`over ([1-9]\d*) of ([1-9]\d*) mentions`),
				"frames/s sustained":               regexp.MustCompile(`kept up: true`),
				"start → all 3 channels":           regexp.MustCompile(`ms$`),
			}},
		{"drain", []string{"-mode", "drain", "-backlog", "40", "-channels", "4", "-bucket-window", "300ms", "-channel-limit", "0"},
			map[string]*regexp.Regexp{
				"mentions delivered": regexp.MustCompile(`^40 of 40 \(duplicates 0`),
				"Discord requests":   regexp.MustCompile(`10\.0 embeds per accepted request`),
				"429s from sending":  regexp.MustCompile(`^0;`),
			}},
		{"memory", []string{"-mode", "memory", "-rate", "200", "-channels", "2", "-mentions", "0.5", "-warm", "500ms",
			"-outage", "2s", "-recover", "100ms", "-cap-per-channel", "5"},
			map[string]*regexp.Regexp{
				"outbox at the end of the outage": regexp.MustCompile(`^10 undelivered \(reached after`),
				"RSS while healthy":               regexp.MustCompile(`^[0-9.]+ MiB \(anon`),
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var out strings.Builder
			if err := run(t.Context(), append(tt.args, "-json", "-sample", "100ms"), &out, io.Discard); err != nil {
				t.Fatalf("run: %v", err)
			}
			var rep report
			if err := json.Unmarshal([]byte(out.String()), &rep); err != nil {
				t.Fatalf("report: %v\n%s", err, out.String())
			}
			for prefix, re := range tt.want {
				i := slices.IndexFunc(rep.Figures, func(f figure) bool { return strings.HasPrefix(f.Name, prefix) })
				if i < 0 {
					t.Errorf("no figure %q in %+v", prefix, rep.Figures)
					continue
				}
				if v := rep.Figures[i].Value; !re.MatchString(v) {
					t.Errorf("%s = %q, want it to match %s", rep.Figures[i].Name, v, re)
				}
			}
			if len(rep.Series) == 0 {
				t.Error("no series")
			}
		})
	}
}
