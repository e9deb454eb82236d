package kickhook

import (
	"log/slog"
	"net/http"
	"time"
)

// Server timeouts for the receiver's own listener.
const (
	// serverReadHeaderTimeout: Kick sends its headers at once; a client that
	// dribbles them is not Kick.
	serverReadHeaderTimeout = 5 * time.Second
	// serverReadTimeout backs up the receiver's per-body deadline.
	serverReadTimeout = serverReadHeaderTimeout + DefaultBodyReadTimeout
	// serverWriteTimeout covers the wait for the outbox commit plus the answer.
	serverWriteTimeout = DefaultSubmitTimeout + 10*time.Second
	// serverIdleTimeout closes idle keep-alive connections.
	serverIdleTimeout = 60 * time.Second
	// serverMaxHeaderBytes: Kick's headers are a few hundred bytes.
	serverMaxHeaderBytes = 16 << 10
)

// NewServer is an http.Server for the receiver's own listener, with the
// timeouts and header limit that keep slow or idle clients from holding
// connections. Mount the receiver on its path, e.g.
//
//	mux := http.NewServeMux()
//	mux.Handle(cfg.Path, recv)
//	srv := kickhook.NewServer(cfg.Listen, mux, log)
//
// If you build your own server, keep WriteTimeout above the receiver's
// SubmitTimeout, or slow commits turn into dropped connections.
func NewServer(addr string, h http.Handler, log *slog.Logger) *http.Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: serverReadHeaderTimeout,
		ReadTimeout:       serverReadTimeout,
		WriteTimeout:      serverWriteTimeout,
		IdleTimeout:       serverIdleTimeout,
		MaxHeaderBytes:    serverMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.With("component", "kickhook").Handler(), slog.LevelWarn),
	}
}
