package centrifake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"
)

// Realtime fakes Kick's negotiation and guest token endpoints
// (https://web.kick.com/api/v1/realtime, reference §1, §2):
// POST /connection, POST /channels/{id}/chat/connection and
// POST /auth/connection. Mount it at the realtime base URL.
type Realtime struct {
	// WebSocketURL is offered as the centrifugo connection.
	WebSocketURL string
	// Providers lists the providers offered, in order; default ["centrifugo"].
	Providers []string
	// Token makes the guest token for a client id; default "guest-" + id.
	Token func(clientID string) string
}

// ServeHTTP answers the three endpoints with Kick's response shapes.
func (rt *Realtime) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, `{"message":"method not allowed"}`, http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<10))
	if err != nil {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch {
	case strings.HasSuffix(r.URL.Path, "/auth/connection"):
		var req struct {
			ClientID string `json:"client_id"`
		}
		if json.Unmarshal(body, &req) != nil || req.ClientID == "" {
			w.WriteHeader(http.StatusUnprocessableEntity)
			_, _ = io.WriteString(w, `{"message":"client_id is required"}`)
			return
		}
		tok := "guest-" + req.ClientID
		if rt.Token != nil {
			tok = rt.Token(req.ClientID)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]string{"token": tok}, "message": "success"})
	case strings.HasSuffix(r.URL.Path, "/connection"):
		providers := rt.Providers
		if len(providers) == 0 {
			providers = []string{"centrifugo"}
		}
		var conns []map[string]any
		for _, p := range providers {
			switch p {
			case "centrifugo":
				conns = append(conns, map[string]any{"provider": p, "credentials": map[string]string{"url": rt.WebSocketURL}})
			case "pusher":
				conns = append(conns, map[string]any{"provider": p, "credentials": map[string]string{"app_key": "32cbd69e4b950bf97679", "cluster": "us2"}})
			default:
				conns = append(conns, map[string]any{"provider": p, "credentials": map[string]string{}})
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{"connections": conns, "mode": "websocket"}})
	default:
		http.NotFound(w, r)
	}
}

// HS256Token signs a Centrifugo connection JWT (HS256) for sub, expiring at
// exp (no exp claim when exp is zero). Kick's guest tokens have
// sub "guest:<client id>".
func HS256Token(secret []byte, sub string, exp time.Time) string {
	enc := base64.RawURLEncoding
	claims := map[string]any{"sub": sub}
	if !exp.IsZero() {
		claims["exp"] = exp.Unix()
	}
	payload, _ := json.Marshal(claims)
	msg := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString(payload)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(msg))
	return msg + "." + enc.EncodeToString(m.Sum(nil))
}
