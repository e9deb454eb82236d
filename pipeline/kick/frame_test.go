package kick

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"
)

func TestDecoder_Decode(t *testing.T) {
	tests := []struct {
		name       string
		raw        string
		event      string
		channel    string // "-" for absent
		data       string
		dataString bool
	}{
		{"chat event", `{"event":"App\\Events\\ChatMessageEvent","data":"{\"id\":\"a\",\"content\":\"https:\\\/\\\/x \\ud83c\\udf89\"}","channel":"chatrooms.668.v2"}`,
			EventChatMessage, "chatrooms.668.v2", `{"id":"a","content":"https:\/\/x \ud83c\udf89"}`, true},
		{"handshake", `{"event":"pusher:connection_established","data":"{\"socket_id\":\"214617.19803\",\"activity_timeout\":120}"}`,
			"pusher:connection_established", "-", `{"socket_id":"214617.19803","activity_timeout":120}`, true},
		{"error object", ` {"event":"pusher:error","data":{"code":4200,"message":"Please reconnect immediately"}} `,
			"pusher:error", "-", `{"code":4200,"message":"Please reconnect immediately"}`, false},
		{"ping object", `{"event":"pusher:ping","data":{}}`, "pusher:ping", "-", `{}`, false},
		{"key order and extra keys", `{"channel":"chatrooms.1.v2","x":[1,{"y":null}],"data":"{}","event":"Unknown\u00e9"}`,
			"Unknowné", "chatrooms.1.v2", `{}`, true},
		{"surrogate pair in event", `{"event":"a\ud83c\udf89b"}`, "a🎉b", "-", "", false},
		{"lone surrogate", `{"event":"a\ud83cb"}`, "a\uFFFDb", "-", "", false},
		{"null channel", `{"event":"e","channel":null}`, "e", "-", "", false},
	}
	var d Decoder
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := d.Decode([]byte(tt.raw))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if f.Event != tt.event {
				t.Errorf("event = %q, want %q", f.Event, tt.event)
			}
			if tt.channel == "-" {
				if f.Channel != nil {
					t.Errorf("channel = %q, want absent", f.Channel)
				}
			} else if string(f.Channel) != tt.channel {
				t.Errorf("channel = %q, want %q", f.Channel, tt.channel)
			}
			if string(f.Data) != tt.data || f.DataString != tt.dataString {
				t.Errorf("data = %q (string %v), want %q (string %v)", f.Data, f.DataString, tt.data, tt.dataString)
			}
		})
	}
}

func TestDecoder_Errors(t *testing.T) {
	tests := []struct{ raw, reason string }{
		{``, ReasonJSON},
		{`[]`, ReasonJSON},
		{`{"event":"x"`, ReasonJSON},
		{`{"event":"x"} {}`, ReasonJSON},
		{`{"event":"x","data":{"a":}}`, ReasonJSON},
		{`{"event":"x","data":"\q"}`, ReasonJSON},
		{`{"event":"x","data":01}`, ReasonJSON},
		{"{\"event\":\"a\nb\"}", ReasonJSON},
		{"{\"event\":\"\xc3\x28\"}", ReasonUTF8},
		{`{"event":null}`, ReasonType},
		{`{"event":{"a":1}}`, ReasonType},
		{`{"channel":"chatrooms.1.v2"}`, ReasonType},
		{`{"event":"x","channel":5}`, ReasonType},
	}
	var d Decoder
	for _, tt := range tests {
		_, err := d.Decode([]byte(tt.raw))
		var fe *FrameError
		if !errors.As(err, &fe) {
			t.Errorf("Decode(%q) error = %v, want a FrameError", tt.raw, err)
			continue
		}
		if fe.Reason != tt.reason {
			t.Errorf("Decode(%q) reason = %q, want %q", tt.raw, fe.Reason, tt.reason)
		}
	}
}

func TestDecoder_DeepNestingIsRefused(t *testing.T) {
	raw := `{"event":"x","data":` + string(bytes.Repeat([]byte("["), 10000)) + string(bytes.Repeat([]byte("]"), 10000)) + `}`
	var d Decoder
	if _, err := d.Decode([]byte(raw)); err == nil {
		t.Fatalf("Decode of 10000-deep data: nil error, want one")
	}
}

func TestChatroomID(t *testing.T) {
	tests := []struct {
		in   string
		id   int64
		want bool
	}{
		{"chatrooms.668.v2", 668, true},
		{"chatrooms.2346570.v2", 2346570, true},
		{"chatrooms.668", 0, false},
		{"chatroom_668", 0, false},
		{"chatrooms..v2", 0, false},
		{"chatrooms.v2", 0, false}, // prefix and suffix overlap
		{"chatrooms.2", 0, false},
		{"chatrooms.-1.v2", 0, false},
		{"chatrooms.0.v2", 0, false},
		{"chatrooms.99999999999999999999.v2", 0, false},
		{"channel.668", 0, false},
	}
	for _, tt := range tests {
		id, ok := ChatroomID([]byte(tt.in))
		if id != tt.id || ok != tt.want {
			t.Errorf("ChatroomID(%q) = %d, %v; want %d, %v", tt.in, id, ok, tt.id, tt.want)
		}
	}
	if got, want := ChannelName(668), "chatrooms.668.v2"; got != want {
		t.Errorf("ChannelName = %q, want %q", got, want)
	}
}

// recordedFrames reads every frame in testdata/frames at the repo root.
func recordedFrames(t testing.TB) [][]byte {
	t.Helper()
	paths, err := filepath.Glob("../../testdata/frames/*.jsonl")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no recorded frames: %v", err)
	}
	demo, _ := filepath.Glob("../../testdata/demo/*.jsonl")
	var out [][]byte
	for _, p := range append(paths, demo...) {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if b := bytes.TrimSpace(sc.Bytes()); len(b) > 0 {
				out = append(out, bytes.Clone(b))
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestDecoder_MatchesEncodingJSON checks every recorded frame against encoding/json.
func TestDecoder_MatchesEncodingJSON(t *testing.T) {
	var d Decoder
	for _, raw := range recordedFrames(t) {
		f, err := d.Decode(raw)
		if err != nil {
			t.Fatalf("Decode(%s): %v", raw, err)
		}
		checkAgainstStdlib(t, raw, f)
	}
}

// checkAgainstStdlib compares a successful decode with encoding/json's view.
func checkAgainstStdlib(t *testing.T, raw []byte, f Frame) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("Decode accepted %q, encoding/json refuses it: %v", raw, err)
	}
	var ev string
	if err := json.Unmarshal(m["event"], &ev); err != nil || ev != f.Event {
		t.Fatalf("event = %q, encoding/json says %q (%v)", f.Event, ev, err)
	}
	if c, ok := m["channel"]; ok && string(c) != "null" {
		var ch string
		if err := json.Unmarshal(c, &ch); err != nil || ch != string(f.Channel) {
			t.Fatalf("channel = %q, encoding/json says %q", f.Channel, ch)
		}
	}
	if data, ok := m["data"]; ok {
		want := []byte(data)
		if f.DataString {
			var s string
			if err := json.Unmarshal(data, &s); err != nil {
				t.Fatalf("data string: %v", err)
			}
			want = []byte(s)
		}
		if !bytes.Equal(want, f.Data) {
			t.Fatalf("data = %q, encoding/json says %q", f.Data, want)
		}
	}
}

func FuzzDecodeFrame(f *testing.F) {
	for _, raw := range recordedFrames(f) {
		f.Add(raw)
	}
	f.Add([]byte(`{"event":"a\ud83cb","data":"\ud800\udc00"}`))
	f.Add([]byte(`{"event":"x","data":[1,-0.5e+3,true,false,null,{"":""}]}`))
	var d Decoder
	f.Fuzz(func(t *testing.T, raw []byte) {
		fr, err := d.Decode(raw)
		if err != nil {
			var fe *FrameError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a FrameError", err)
			}
			return
		}
		if !utf8.ValidString(fr.Event) {
			t.Fatalf("event %q is not UTF-8", fr.Event)
		}
		checkAgainstStdlib(t, raw, fr)
	})
}

func BenchmarkDecodeFrame(b *testing.B) {
	raw := []byte(`{"event":"App\\Events\\ChatMessageEvent","data":"{\"id\":\"0b6a1f3e-5c2d-4b8e-9a51-7d2c9e4f1a20\",\"chatroom_id\":2346570,\"content\":\"hey @Target_User look at this [emote:37226:KEKW]\",\"type\":\"message\",\"created_at\":\"2025-08-20T07:07:44+00:00\",\"sender\":{\"id\":4815162,\"username\":\"Viewer_One\",\"slug\":\"viewer-one\",\"identity\":{\"color\":\"#DEB2FF\",\"badges\":[{\"type\":\"subscriber\",\"text\":\"Subscriber\",\"count\":3}]}},\"metadata\":{\"message_ref\":\"1755673663786\"}}","channel":"chatrooms.2346570.v2"}`)
	b.Run("decoder", func(b *testing.B) {
		var d Decoder
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := d.Decode(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("encoding_json", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for b.Loop() {
			var f struct {
				Event   string          `json:"event"`
				Channel string          `json:"channel"`
				Data    json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal(raw, &f); err != nil {
				b.Fatal(err)
			}
			var s string
			if err := json.Unmarshal(f.Data, &s); err != nil {
				b.Fatal(err)
			}
		}
	})
}
