package centrifugo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"kickwatch/pipeline"
)

type subStatus int

const (
	subIdle       subStatus = iota // not sent on this connection
	subInflight                    // subscribe sent, no reply yet
	subSubscribed                  // the server confirmed it
	subFailed                      // refused; retried at retryAt
)

// sub is one channel's subscription on the current connection.
type sub struct {
	ch      pipeline.Channel
	status  subStatus
	fails   int
	retryAt time.Time
}

// syncChannels makes the subscriptions match the configured channels:
// one frame with a subscribe per new channel and an unsubscribe per removed
// one. A channel is never subscribed twice.
func (s *session) syncChannels(ctx context.Context) {
	want := map[int64]bool{}
	var frame []byte
	for _, ch := range s.c.currentChannels() {
		if ch.ChatroomID <= 0 || want[ch.ChatroomID] {
			continue
		}
		want[ch.ChatroomID] = true
		if sb, ok := s.subs[ch.ChatroomID]; ok {
			sb.ch = ch
			continue
		}
		s.subs[ch.ChatroomID] = &sub{ch: ch}
		frame = s.appendSubscribe(frame, ch.ChatroomID)
	}
	for id, sb := range s.subs {
		if want[id] {
			continue
		}
		if sb.status == subInflight || sb.status == subSubscribed {
			// The reply is not awaited: a late publication for it is dropped.
			frame = appendCommand(frame, command{ID: s.id(), Unsubscribe: &unsubscribeRequest{Channel: ChannelName(id)}})
		}
		delete(s.subs, id)
	}
	s.send(ctx, frame)
	s.armRetry()
}

func (s *session) appendSubscribe(frame []byte, chatroom int64) []byte {
	id := s.id()
	s.pending[id] = pendingCmd{kind: cmdSubscribe, chatroom: chatroom}
	s.subs[chatroom].status = subInflight
	return appendCommand(frame, command{ID: id, Subscribe: &subscribeRequest{Channel: ChannelName(chatroom)}})
}

func (s *session) onSubscribe(chatroom int64, rerr *ReplyError) {
	sb := s.subs[chatroom]
	if sb == nil || sb.status != subInflight {
		return // removed meanwhile
	}
	if rerr == nil || rerr.Code == codeAlreadySubscribed {
		sb.status, sb.fails = subSubscribed, 0
		s.h.ChannelState(Source, chatroom, pipeline.ChannelSubscribed, nil)
		s.markHealthy()
		return
	}
	s.failChannel(sb, fmt.Errorf("subscribe %s: %w", ChannelName(chatroom), rerr))
}

// failChannel marks a refused channel and schedules its retry; the other
// channels carry on.
func (s *session) failChannel(sb *sub, err error) {
	sb.status = subFailed
	d := s.c.cfg.ChannelRetry << min(sb.fails, 10)
	if d > maxChannelRetry || d <= 0 {
		d = maxChannelRetry
	}
	d += rand.N(d/4 + 1)
	sb.fails++
	sb.retryAt = time.Now().Add(d)
	s.c.log.Warn("channel subscription refused", "channel", sb.ch.Slug, "chatroom_id", sb.ch.ChatroomID, "error", err, "retry_in", d)
	s.h.ChannelState(Source, sb.ch.ChatroomID, pipeline.ChannelFailed, err)
	s.armRetry()
}

func (s *session) onUnsubscribePush(ctx context.Context, channel string, u *unsubscribePush) {
	id, ok := parseChannel(channel)
	sb := s.subs[id]
	if !ok || sb == nil || sb.status != subSubscribed {
		return
	}
	if u.Code >= 2500 { // "resubscribe" advice (reference §4.7)
		s.h.ChannelState(Source, id, pipeline.ChannelPending, nil)
		s.send(ctx, s.appendSubscribe(nil, id))
		return
	}
	s.failChannel(sb, fmt.Errorf("server unsubscribed %s: %d %q", channel, u.Code, truncate(u.Reason, 100)))
}

// armRetry sets the retry timer to the earliest failed channel.
func (s *session) armRetry() {
	var next time.Time
	for _, sb := range s.subs {
		if sb.status == subFailed && (next.IsZero() || sb.retryAt.Before(next)) {
			next = sb.retryAt
		}
	}
	s.retryTimer.Stop()
	if !next.IsZero() {
		s.retryTimer.Reset(max(time.Until(next), 0))
	}
}

func (s *session) retryChannels(ctx context.Context) {
	now := time.Now()
	var frame []byte
	for id, sb := range s.subs {
		if sb.status == subFailed && !sb.retryAt.After(now) {
			frame = s.appendSubscribe(frame, id)
		}
	}
	s.send(ctx, frame)
	s.armRetry()
}

// scheduleRefresh arms the token refresh RefreshBefore ahead of ttl (never
// sooner than half of it) when the token expires.
func (s *session) scheduleRefresh(expires bool, ttlSeconds uint32) {
	s.refreshTimer.Stop()
	if !expires || ttlSeconds == 0 {
		s.expiresAt = time.Time{}
		return
	}
	ttl := time.Duration(ttlSeconds) * time.Second
	s.expiresAt = time.Now().Add(ttl)
	s.refreshTimer.Reset(max(ttl-s.c.cfg.RefreshBefore, ttl/2))
}

// startRefresh fetches a new token for the same client id off the loop.
func (s *session) startRefresh(ctx context.Context, wg *sync.WaitGroup) {
	if s.refreshOn {
		return
	}
	s.refreshOn = true
	wg.Go(func() {
		tctx, cancel := context.WithTimeout(ctx, s.c.cfg.ConnectTimeout)
		defer cancel()
		tok, err := s.c.cfg.Token(tctx, s.clientID)
		s.refreshed <- tokenResult{token: tok, err: err} // capacity 1, one fetch at a time
	})
}

func (s *session) finishRefresh(ctx context.Context, r tokenResult) {
	s.refreshOn = false
	if r.err != nil {
		s.c.log.Warn("token refresh failed, keeping the connection", "error", r.err)
		s.retryRefresh()
		return
	}
	id := s.id()
	s.pending[id] = pendingCmd{kind: cmdRefresh}
	s.send(ctx, appendCommand(nil, command{ID: id, Refresh: &refreshRequest{Token: r.token}}))
}

func (s *session) onRefresh(f frame) {
	if f.Error != nil {
		s.c.log.Warn("token refresh refused, keeping the connection", "error", f.Error)
		s.retryRefresh()
		return
	}
	if f.Refresh != nil {
		s.scheduleRefresh(f.Refresh.Expires, f.Refresh.TTL)
	}
}

// retryRefresh tries again while the token still lives; after that the
// server closes with 3005 and the normal reconnect takes over.
func (s *session) retryRefresh() {
	if !s.expiresAt.IsZero() && time.Until(s.expiresAt) > s.c.cfg.RefreshRetry {
		s.refreshTimer.Reset(s.c.cfg.RefreshRetry)
	}
}
