package main

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"kickwatch/pipeline/e2e"
	"kickwatch/pipeline/kick"
	"kickwatch/pipeline/kick/kickfake"
)

// chatter is ordinary chat that never mentions the watched user.
var chatter = kickfake.Chatter

// traffic publishes chat frames into the fake Kick server: round robin over
// the channels, a fixed share of them mentioning the user.
type traffic struct {
	kick     *e2e.KickServer
	channels []e2e.Channel
	user     string
	share    float64 // mentions per frame
	track    *tracker
	start    time.Time // created_at base of the frames

	filler [][][]byte // per channel, pre-encoded chatter data objects

	frames    atomic.Int64 // frames published
	mentions  atomic.Int64 // mention frames published
	unrouted  atomic.Int64 // frames no socket was subscribed to
	maxBehind atomic.Int64 // most frames the pacer was behind schedule
}

func newTraffic(k *e2e.KickServer, chs []e2e.Channel, user string, share float64, t *tracker) *traffic {
	tr := &traffic{kick: k, channels: chs, user: user, share: share, track: t, start: time.Now()}
	tr.filler = make([][][]byte, len(chs))
	for i, c := range chs {
		for j, text := range chatter {
			tr.filler[i] = append(tr.filler[i], e2e.ChatData(e2e.Message{
				ID: e2e.NewUUID(), ChatroomID: c.ChatroomID, SenderID: int64(100 + j), Sender: "viewer_" + strconv.Itoa(j),
				Content: text, CreatedAt: tr.start,
			}))
		}
	}
	return tr
}

// publish sends frame number n.
func (tr *traffic) publish(n int64) {
	ci := int(n % int64(len(tr.channels)))
	ch := tr.channels[ci]
	var reached int
	if m := tr.mentions.Load(); float64(m+1) <= tr.share*float64(n+1) {
		// Mentions take the channels in turn on their own, so that every
		// channel gets its share whatever the ratio of channels to -mentions.
		ch = tr.channels[int(m%int64(len(tr.channels)))]
		now := time.Now()
		seq := tr.track.send(now)
		data := e2e.ChatData(e2e.Message{
			ID: e2e.NewUUID(), ChatroomID: ch.ChatroomID, SenderID: 5000 + n%1000, Sender: "fan_" + strconv.FormatInt(n%1000, 10),
			Content:   fmt.Sprintf("hey @%s %s look at this [emote:37226:KEKW]", tr.user, marker(seq)),
			CreatedAt: now,
		})
		reached = tr.kick.Publish(ch.ChatroomID, kick.EventChatMessage, data)
		tr.mentions.Add(1)
	} else {
		pool := tr.filler[ci]
		reached = tr.kick.Publish(ch.ChatroomID, kick.EventChatMessage, pool[int(n/int64(len(tr.channels)))%len(pool)])
	}
	if reached == 0 {
		tr.unrouted.Add(1)
	}
	tr.frames.Add(1)
}

// run publishes at rate frames/s until ctx is done. It paces against the
// wall clock every millisecond, so a late tick is made up at once.
func (tr *traffic) run(ctx context.Context, rate float64) {
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	start := time.Now()
	sent := int64(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			// Not the tick's own time: a tick read late carries a stale one.
			due := int64(time.Since(start).Seconds() * rate)
			if behind := due - sent; behind > tr.maxBehind.Load() {
				tr.maxBehind.Store(behind)
			}
			for ; sent < due; sent++ {
				if ctx.Err() != nil {
					return
				}
				tr.publish(tr.frames.Load())
			}
		}
	}
}

// mentionFrames builds n Pusher frames that mention user, spread over the
// channels, for `kickwatch replay`; each carries marker(seq) with seq taken
// from t.
func mentionFrames(chs []e2e.Channel, user string, n int, t *tracker) [][]byte {
	out := make([][]byte, 0, n)
	now := time.Now()
	for i := range n {
		ch := chs[i%len(chs)]
		seq := t.send(now)
		data := e2e.ChatData(e2e.Message{
			ID: e2e.NewUUID(), ChatroomID: ch.ChatroomID, SenderID: int64(5000 + i), Sender: "fan_" + strconv.Itoa(i),
			Content:   fmt.Sprintf("hey @%s %s queued while Discord was away", user, marker(seq)),
			CreatedAt: now,
		})
		out = append(out, kickfake.EncodeFrame(fmt.Sprintf("chatrooms.%d.v2", ch.ChatroomID), kick.EventChatMessage, data))
	}
	return out
}
