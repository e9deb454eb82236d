// Package kickhookfake plays Kick's side of the official webhooks in tests: a
// Sender that signs deliveries with a test RSA key exactly as Kick signs
// them, and an API server faking id.kick.com and api.kick.com for the
// subscription verbs (reference kick-chat-protocol.md §5.2–5.4).
package kickhookfake

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	_ "embed"
	"encoding/base64"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"kickwatch/pipeline/kickhook"
)

// Delivery is one webhook POST. Zero fields take Kick's usual values: a new
// ULID message id, Now as the timestamp, chat.message.sent version 1,
// application/json.
type Delivery struct {
	MessageID      string
	SubscriptionID string
	Timestamp      time.Time
	// TimestampHeader, if set, is sent verbatim instead of Timestamp.
	TimestampHeader string
	Type            string
	Version         string
	ContentType     string
	Body            []byte
	// Signature, if set, is sent instead of the computed one.
	Signature string
}

// Sender signs and posts deliveries to URL.
type Sender struct {
	Key    *rsa.PrivateKey
	URL    string
	Client *http.Client // nil: http.DefaultClient
	Now    func() time.Time
}

// Sign is Kick's Kick-Event-Signature for the delivery: base64 of the
// RSASSA-PKCS1-v1_5 SHA-256 signature of "<id>.<timestamp>.<body>".
func Sign(key *rsa.PrivateKey, messageID, timestamp string, body []byte) (string, error) {
	sum := sha256.Sum256(kickhook.SignedPayload(messageID, timestamp, body))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("sign delivery: %w", err)
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// Complete fills d's zero fields and its signature.
func (s *Sender) Complete(d Delivery) (Delivery, error) {
	if d.MessageID == "" {
		d.MessageID = NewULID(s.now())
	}
	if d.SubscriptionID == "" {
		d.SubscriptionID = "01JQ79DGGK8C9117GJN8EHCYGG"
	}
	if d.Timestamp.IsZero() {
		d.Timestamp = s.now()
	}
	if d.TimestampHeader == "" {
		d.TimestampHeader = d.Timestamp.UTC().Format(time.RFC3339)
	}
	if d.Type == "" {
		d.Type = kickhook.EventChatMessageSent
	}
	if d.Version == "" {
		d.Version = "1"
	}
	if d.ContentType == "" {
		d.ContentType = "application/json"
	}
	if d.Signature == "" {
		sig, err := Sign(s.Key, d.MessageID, d.TimestampHeader, d.Body)
		if err != nil {
			return d, err
		}
		d.Signature = sig
	}
	return d, nil
}

// Request builds the signed POST of d (after Complete).
func (s *Sender) Request(ctx context.Context, d Delivery) (*http.Request, error) {
	d, err := s.Complete(d)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL, bytes.NewReader(d.Body))
	if err != nil {
		return nil, fmt.Errorf("build delivery: %w", err)
	}
	Header(req.Header, d)
	return req, nil
}

// Header sets a completed delivery's headers on h.
func Header(h http.Header, d Delivery) {
	h.Set("Content-Type", d.ContentType)
	h.Set(kickhook.HeaderMessageID, d.MessageID)
	h.Set(kickhook.HeaderSubscriptionID, d.SubscriptionID)
	h.Set(kickhook.HeaderSignature, d.Signature)
	h.Set(kickhook.HeaderTimestamp, d.TimestampHeader)
	h.Set(kickhook.HeaderEventType, d.Type)
	h.Set(kickhook.HeaderEventVersion, d.Version)
}

// Send posts d and returns the status code and (at most 4 KiB of) the body.
func (s *Sender) Send(ctx context.Context, d Delivery) (int, string, error) {
	req, err := s.Request(ctx, d)
	if err != nil {
		return 0, "", err
	}
	c := s.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("post delivery: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	return resp.StatusCode, string(b), nil
}

func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// crockford is the ULID alphabet.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// NewULID returns a ULID for t (48-bit ms time, 80 random bits), the format
// of Kick's message and subscription ids.
func NewULID(t time.Time) string {
	var b [16]byte
	ms := uint64(t.UnixMilli())
	binary.BigEndian.PutUint16(b[0:2], uint16(ms>>32))
	binary.BigEndian.PutUint32(b[2:6], uint32(ms))
	_, _ = rand.Read(b[6:])
	// 128 bits → 26 base32 characters, the first carrying 3 bits.
	hi := binary.BigEndian.Uint64(b[0:8])
	lo := binary.BigEndian.Uint64(b[8:16])
	var out [26]byte
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}

// ParsePrivateKey reads a PKCS #1 ("RSA PRIVATE KEY") or PKCS #8 ("PRIVATE
// KEY") RSA key from PEM.
func ParsePrivateKey(pemBytes []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("parse private key: no PEM block")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("parse private key: %T is not an RSA key", k)
	}
	return rk, nil
}

// PublicKeyPEM is k's public half as Kick publishes its own ("PUBLIC KEY").
func PublicKeyPEM(k *rsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("marshal public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// testKeyPEM is a 2048-bit RSA key made for kickwatch's tests; its public
// half is pipeline/kickhook/testdata/test_public_key.pem, for a test config's
// [kick.webhook] public_key_file. Never a production key.
//
//go:embed test_private_key.pem
var testKeyPEM string

// TestKey is the fixed test signing key (parsing it again each call keeps
// callers from sharing one mutable key).
func TestKey() (*rsa.PrivateKey, error) { return ParsePrivateKey([]byte(testKeyPEM)) }
