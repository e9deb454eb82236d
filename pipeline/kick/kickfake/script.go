package kickfake

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"
)

// MaxScriptLine bounds one recorded frame.
const MaxScriptLine = 256 << 10

// MaxScriptFrames bounds a script file.
const MaxScriptFrames = 100000

// Script is a list of recorded frames, each exactly as sent on the wire.
type Script struct {
	Frames [][]byte
}

// LoadScript reads JSONL: one Pusher frame per line, blank lines skipped.
// Each line must be a JSON object with a string "event".
func LoadScript(r io.Reader) (*Script, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxScriptLine)
	var s Script
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var f struct {
			Event *string `json:"event"`
		}
		if err := json.Unmarshal(b, &f); err != nil {
			return nil, fmt.Errorf("script line %d: %w", line, err)
		}
		if f.Event == nil {
			return nil, fmt.Errorf("script line %d: no event", line)
		}
		if len(s.Frames) >= MaxScriptFrames {
			return nil, fmt.Errorf("script: more than %d frames", MaxScriptFrames)
		}
		s.Frames = append(s.Frames, bytes.Clone(b))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("script line %d: %w", line+1, err)
	}
	return &s, nil
}

// LoadScriptFile reads a JSONL script file.
func LoadScriptFile(path string) (*Script, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open script: %w", err)
	}
	defer f.Close()
	return LoadScript(f)
}

// PlayOptions configure Play.
type PlayOptions struct {
	Interval time.Duration // between frames; default 2s
	Loop     bool          // start again after the last frame
	// Refresh gives each chat message a new id, created_at and message_ref
	// as it is sent, so a looping demo is not deduplicated as old news.
	Refresh bool
	Now     func() time.Time                       // default time.Now
	After   func(d time.Duration) <-chan time.Time // default time.After
}

// Play publishes the script's frames until it ends (or, with Loop, until ctx
// is done). Before each channel frame it waits until a client is subscribed to
// that channel, so nothing is played into the void.
func (s *Server) Play(ctx context.Context, sc *Script, o PlayOptions) error {
	if o.Interval <= 0 {
		o.Interval = 2 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.After == nil {
		o.After = time.After
	}
	if len(sc.Frames) == 0 {
		return errors.New("play script: no frames")
	}
	for {
		for i, frame := range sc.Frames {
			var f struct {
				Event   string          `json:"event"`
				Channel string          `json:"channel"`
				Data    json.RawMessage `json:"data"`
			}
			_ = json.Unmarshal(frame, &f) // LoadScript checked it
			if id, ok := chatroomOf(f.Channel); ok {
				if err := s.WaitSubscribed(ctx, id); err != nil {
					return nil
				}
			}
			out := frame
			if o.Refresh && (f.Event == `App\Events\ChatMessageEvent` || f.Event == "ChatMessageEvent") {
				if fresh, err := refresh(f.Channel, f.Event, f.Data, o.Now()); err == nil {
					out = fresh
				}
			}
			s.PublishFrame(out)
			if i == len(sc.Frames)-1 && !o.Loop {
				return nil
			}
			select {
			case <-ctx.Done():
				return nil
			case <-o.After(o.Interval):
			}
		}
	}
}

// refresh re-encodes a chat message frame with a new id and timestamps.
func refresh(channel, event string, data json.RawMessage, now time.Time) ([]byte, error) {
	inner := []byte(data)
	var str string
	if json.Unmarshal(data, &str) == nil {
		inner = []byte(str)
	}
	dec := json.NewDecoder(bytes.NewReader(inner))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("refresh frame: %w", err)
	}
	m["id"] = newUUID()
	m["created_at"] = now.UTC().Format("2006-01-02T15:04:05+00:00")
	if md, ok := m["metadata"].(map[string]any); ok {
		if _, ok := md["message_ref"]; ok {
			md["message_ref"] = strconv.FormatInt(now.UnixMilli(), 10)
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("refresh frame: %w", err)
	}
	return EncodeFrame(channel, event, b), nil
}

// newUUID is a random (version 4) UUID.
func newUUID() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
