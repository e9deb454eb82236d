package main

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The load tool reads /proc files and the Discord fake's payloads: neither
// parser may panic, and a success must rest on what the input holds.
func FuzzParseProc(f *testing.F) {
	f.Add([]byte("Name:\tkickwatch\nVmHWM:\t   31236 kB\nVmRSS:\t   27512 kB\nRssAnon:\t 12800 kB\nRssFile:\t 14712 kB\n"))
	f.Add([]byte("4242 (kickwatch) S 1 4242 4242 0 -1 4194560 1540 0 0 0 250 31 0 0 20 0 9 0 1234 0 0"))
	f.Add([]byte("7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 5 5 0 0 20 0 1 0 1 0 0"))
	f.Add([]byte("VmRSS:\nVmHWM:\t1 kB\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var s procSample
		if err := parseStatus(b, &s); err == nil {
			if !bytes.Contains(b, []byte("VmRSS:")) || !bytes.Contains(b, []byte("VmHWM:")) {
				t.Fatalf("parseStatus(%q) succeeded without VmRSS and VmHWM", b)
			}
		}
		if _, err := parseStat(b); err == nil && !bytes.Contains(b, []byte(")")) {
			t.Fatalf("parseStat(%q) succeeded without a command name", b)
		}
	})
}

func FuzzMarkers(f *testing.F) {
	f.Add("hey @me lg0z look", int64(7))
	f.Add("lg12 lgz lg-1z xlg7z", int64(123456789012345678))
	f.Add("lglglg1z", int64(0))
	f.Fuzz(func(t *testing.T, s string, seq int64) {
		for _, v := range markers(s, nil) {
			// (Leading zeros are allowed: "lg007z" is 7.)
			if v < 0 || !strings.Contains(s, strconv.FormatInt(v, 10)+"z") {
				t.Fatalf("markers(%q) returned %d, not in the text", s, v)
			}
		}
		if seq < 0 {
			return
		}
		// A marker survives any text around it that is not a digit run
		// glued to it.
		text := strings.TrimRight(s, "0123456789") + " " + marker(seq) + " " + s
		if got := markers(text, nil); !slices.Contains(got, seq) {
			t.Fatalf("markers(%q) = %v, want %d among them", text, got, seq)
		}
	})
}
