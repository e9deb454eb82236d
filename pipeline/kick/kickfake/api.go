package kickfake

import (
	"fmt"
	"net/http"
	"strings"
)

// APIChannel is a channel the fake lookup API knows.
type APIChannel struct {
	Slug       string
	ChannelID  int64
	ChatroomID int64
}

// AddChannel makes the lookup API answer for ch.Slug.
func (s *Server) AddChannel(ch APIChannel) {
	s.mu.Lock()
	s.channels[strings.ToLower(ch.Slug)] = ch
	s.mu.Unlock()
}

// BlockAPI makes the lookup API answer with Cloudflare's challenge page
// (403, cf-mitigated: challenge, "Just a moment..."), as Kick's API does for
// plain HTTP clients (reference §5.1).
func (s *Server) BlockAPI(on bool) {
	s.mu.Lock()
	s.apiBlock = on
	s.mu.Unlock()
}

// challengePage is the start of Cloudflare's managed challenge page.
const challengePage = `<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>` +
	`<meta http-equiv="Content-Type" content="text/html; charset=UTF-8"><meta name="robots" content="noindex,nofollow">` +
	`</head><body><div class="main-wrapper" role="main"><div class="main-content"><noscript>` +
	`<div class="h2"><span id="challenge-error-text">Enable JavaScript and cookies to continue</span></div></noscript>` +
	`</div></div><script>(function(){window._cf_chl_opt={cvId: '3',cZone: "kick.com",cType: 'managed'};` +
	`var a = document.createElement('script');a.src = '/cdn-cgi/challenge-platform/h/g/orchestrate/chl_page/v1';` +
	`document.getElementsByTagName('head')[0].appendChild(a);}());</script></body></html>`

func (s *Server) serveChannel(w http.ResponseWriter, r *http.Request) {
	slug := strings.ToLower(r.PathValue("slug"))
	s.mu.Lock()
	blocked := s.apiBlock
	ch, ok := s.channels[slug]
	s.mu.Unlock()
	if blocked {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=UTF-8")
		h.Set("Cf-Mitigated", "challenge")
		h.Set("Server", "cloudflare")
		h.Set("Cache-Control", "private, max-age=0, no-store, no-cache, must-revalidate, post-check=0, pre-check=0")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(challengePage))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"message":"Channel not found."}`))
		return
	}
	// The fields a client uses, in the shape of /api/v2/channels/{slug}
	// (reference §3.1, §5.1): top-level id is the channel id.
	body := fmt.Sprintf(`{"id":%d,"user_id":%d,"slug":%q,"is_banned":false,"playback_url":null,`+
		`"chatroom":{"id":%d,"chatable_type":"App\\Models\\Channel","channel_id":%d,"chatable_id":%d,"slow_mode":false},`+
		`"livestream":null,"user":{"id":%d,"username":%q}}`,
		ch.ChannelID, ch.ChannelID+1, ch.Slug, ch.ChatroomID, ch.ChannelID, ch.ChannelID, ch.ChannelID+1, ch.Slug)
	_, _ = w.Write(PHPEscapeJSON([]byte(body)))
}
