package kickhook_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"kickwatch/pipeline"
	"kickwatch/pipeline/kickhook"
	"kickwatch/pipeline/kickhook/kickhookfake"
)

var (
	otherKeyOnce sync.Once
	otherKey     *rsa.PrivateKey
	otherKeyErr  error
)

// rsaKey2048 is a second key, not the test key, made once per test binary.
func rsaKey2048(t testing.TB) (*rsa.PrivateKey, error) {
	t.Helper()
	otherKeyOnce.Do(func() { otherKey, otherKeyErr = rsa.GenerateKey(rand.Reader, 2048) })
	return otherKey, otherKeyErr
}

func readCloser(s string) io.ReadCloser { return io.NopCloser(strings.NewReader(s)) }

// startServer runs the receiver on a real listener through NewServer.
func startServer(t *testing.T, recv http.Handler) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/kick/webhook", recv)
	srv := kickhook.NewServer("127.0.0.1:0", mux, nil)
	ts := httptest.NewUnstartedServer(mux)
	ts.Config = srv
	ts.Start()
	t.Cleanup(ts.Close)
	return ts.URL + "/kick/webhook"
}

// A client that sends its headers and then dribbles the body is cut off at
// BodyReadTimeout with 408, and nothing reaches the pipeline.
func TestReceiver_SlowClient(t *testing.T) {
	h := newHarness(t, func(o *kickhook.ReceiverOptions) { o.BodyReadTimeout = 50 * time.Millisecond })
	u := startServer(t, h.recv)
	d, err := h.sender.Complete(kickhookfake.Delivery{Body: mentionBody(t)})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", strings.TrimPrefix(strings.TrimSuffix(u, "/kick/webhook"), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hdr := http.Header{}
	kickhookfake.Header(hdr, d)
	var b strings.Builder
	fmt.Fprintf(&b, "POST /kick/webhook HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n", len(d.Body))
	_ = hdr.Write(&b)
	b.WriteString("\r\n")
	b.Write(d.Body[:10]) // and then nothing more
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	// The read below ends when the server answers; the test's own deadline
	// only guards against a hang.
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a slow client: %v", err)
	}
	resp.Body.Close()
	if got, want := resp.StatusCode, http.StatusRequestTimeout; got != want {
		t.Errorf("status=%d, want %d", got, want)
	}
	if got := h.sub.count(); got != 0 {
		t.Errorf("submits=%d, want 0", got)
	}
	if got, want := h.recv.Stats().ReadError, uint64(1); got != want {
		t.Errorf("read_error=%d, want %d", got, want)
	}
}

// blockingSubmit holds every Submit until released, to fill MaxInFlight.
type blockingSubmit struct {
	entered chan struct{}
	release chan struct{}
}

func (b *blockingSubmit) submit(ctx context.Context, _ *pipeline.ChatMessage, _ string) (bool, error) {
	b.entered <- struct{}{}
	select {
	case <-b.release:
		return true, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

func TestReceiver_BusyAndEndToEnd(t *testing.T) {
	bs := &blockingSubmit{entered: make(chan struct{}, 1), release: make(chan struct{})}
	h := newHarness(t, func(o *kickhook.ReceiverOptions) {
		o.MaxInFlight = 1
		o.Submit = bs.submit
	})
	h.sender.URL = startServer(t, h.recv)
	first := make(chan int, 1)
	go func() {
		code, _, err := h.sender.Send(context.Background(), kickhookfake.Delivery{Body: mentionBody(t)})
		if err != nil {
			code = -1
		}
		first <- code
	}()
	<-bs.entered // the first delivery holds the only slot
	code, _, err := h.sender.Send(t.Context(), kickhookfake.Delivery{Body: mentionBody(t)})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := code, http.StatusServiceUnavailable; got != want {
		t.Errorf("second delivery: status=%d, want %d", got, want)
	}
	close(bs.release)
	if got, want := <-first, http.StatusOK; got != want {
		t.Errorf("first delivery: status=%d, want %d", got, want)
	}
	st := h.recv.Stats()
	if st.Busy != 1 || st.Accepted != 1 {
		t.Errorf("stats=%+v, want busy=1 accepted=1", st)
	}
}

func TestNewServer_Limits(t *testing.T) {
	srv := kickhook.NewServer(":0", http.NotFoundHandler(), nil)
	if srv.ReadHeaderTimeout <= 0 || srv.ReadTimeout <= 0 || srv.IdleTimeout <= 0 || srv.MaxHeaderBytes <= 0 {
		t.Errorf("server without limits: %+v", srv)
	}
	if got, min := srv.WriteTimeout, kickhook.DefaultSubmitTimeout; got <= min {
		t.Errorf("write timeout %v, want above the submit timeout %v", got, min)
	}
}
