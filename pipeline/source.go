package pipeline

import (
	"context"
	"time"
)

// Channel is one Kick channel to watch, as the sources need it.
type Channel struct {
	Slug       string
	ChatroomID int64 // chatrooms.{ChatroomID}.v2
	ChannelID  int64 // the channel (streamer) id; Centrifugo negotiation needs it; 0 if unknown
}

// Event is one channel event read from a chat transport, its data already
// unwrapped from the transport's envelope (Pusher's double-encoded string,
// Centrifugo's push.pub.data) into the event's own JSON object.
type Event struct {
	Source     string // "pusher", "centrifugo"
	ChatroomID int64  // from the transport channel name
	Name       string // event name as sent, e.g. `App\Events\ChatMessageEvent`
	Data       []byte // the event's JSON object; only valid during the call
	Received   time.Time
}

// ChannelState is what a transport knows of one channel's subscription.
type ChannelState int

// The channel states a transport reports.
const (
	ChannelPending    ChannelState = iota // not (yet) subscribed
	ChannelSubscribed                     // the server confirmed the subscription
	ChannelFailed                         // the server refused it; the transport retries
)

func (s ChannelState) String() string {
	switch s {
	case ChannelPending:
		return "pending"
	case ChannelSubscribed:
		return "subscribed"
	case ChannelFailed:
		return "failed"
	}
	return "unknown"
}

// Handler receives what a transport reads. Its methods are called from the
// transport's read goroutine and must not block for long: the socket has to
// keep being read so keepalive holds.
type Handler interface {
	// Prefilter is offered every raw frame before any decoding. It returns true
	// when the frame is a chat message that cannot match, so the transport drops
	// it without decoding (the fast path). It must not retain raw.
	Prefilter(raw []byte) bool
	// HandleEvent is called for each decoded channel event.
	HandleEvent(ev Event)
	// Malformed counts a frame the transport could not use, by reason
	// ("oversized", "json", "utf8", "type", "unknown_event", …), with a sample
	// for debug logs (the handler truncates it).
	Malformed(source, reason string, sample []byte)
	// ChannelState reports a subscription change.
	ChannelState(source string, chatroomID int64, state ChannelState, err error)
	// Connected reports the transport's connection state (for readiness and metrics).
	Connected(source string, up bool, err error)
}

// Transport reads chat for a set of channels until ctx is done, reconnecting
// on its own and never giving up for good.
type Transport interface {
	// Run blocks until ctx is done.
	Run(ctx context.Context, h Handler) error
	// SetChannels replaces the set of channels, subscribing and unsubscribing
	// on the live connection; safe to call from any goroutine.
	SetChannels(chs []Channel)
}
