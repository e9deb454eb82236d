// Package kickhook receives Kick's official, signed webhooks
// (chat.message.sent) and manages their subscriptions through Kick's public
// API. The receiver verifies each delivery's RSA signature before reading
// anything out of it, maps the chat message onto pipeline.ChatMessage (the
// type the sockets produce) and hands it to the same matcher and outbox.
// Reference: shared/reference/kick-chat-protocol.md §5.2–5.4.
package kickhook

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	_ "embed"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// defaultPublicKeyPEM is Kick's webhook signing key as published in Kick's
// developer docs (KickDevDocs events/webhook-security.md, "Kick Public Key");
// the same key verifies the real delivery in KickLib's test suite.
//
//go:embed kick_public_key.pem
var defaultPublicKeyPEM string

// maxSignatureChars bounds the Kick-Event-Signature header: base64 of a
// 4096-bit RSA signature is 684 characters.
const maxSignatureChars = 1024

// maxPEMBytes bounds a public key file; a 4096-bit key's PEM is under 1 KiB.
const maxPEMBytes = 64 << 10

// Signature errors, for errors.Is.
var (
	ErrBadSignature = errors.New("webhook signature does not verify")
	ErrNoSignature  = errors.New("webhook signature missing")
)

// ParsePublicKey reads an RSA public key from PEM: a "PUBLIC KEY" (PKIX, what
// Kick publishes) or an "RSA PUBLIC KEY" (PKCS #1) block.
func ParsePublicKey(pemBytes []byte) (*rsa.PublicKey, error) {
	if len(pemBytes) > maxPEMBytes {
		return nil, errors.New("parse public key: over 64 KiB")
	}
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("parse public key: no PEM block")
	}
	switch block.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse public key: %w", err)
		}
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("parse public key: %T is not an RSA key", k)
		}
		return checkKey(rk)
	case "RSA PUBLIC KEY":
		rk, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parse public key: %w", err)
		}
		return checkKey(rk)
	}
	return nil, fmt.Errorf("parse public key: PEM block %q is not a public key", block.Type)
}

func checkKey(k *rsa.PublicKey) (*rsa.PublicKey, error) {
	if k.N.BitLen() < 2048 {
		return nil, fmt.Errorf("parse public key: %d-bit RSA key, want at least 2048", k.N.BitLen())
	}
	return k, nil
}

// DefaultPublicKeyPEM is Kick's published webhook signing key, shipped in the
// binary: the key used when [kick.webhook] public_key_file is empty. Kick also
// serves it at GET https://api.kick.com/public/v1/public-key (APIClient.PublicKey).
func DefaultPublicKeyPEM() []byte { return []byte(defaultPublicKeyPEM) }

// DefaultPublicKey is DefaultPublicKeyPEM parsed. The embedded key is fixed
// and tested, so the error is only there to avoid a panic path.
func DefaultPublicKey() (*rsa.PublicKey, error) {
	return ParsePublicKey([]byte(defaultPublicKeyPEM))
}

// LoadPublicKey reads the PEM file at path ([kick.webhook] public_key_file);
// an empty path means Kick's published key, DefaultPublicKey.
func LoadPublicKey(path string) (*rsa.PublicKey, error) {
	if path == "" {
		return DefaultPublicKey()
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load public key: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPEMBytes+1))
	if err != nil {
		return nil, fmt.Errorf("load public key: %w", err)
	}
	k, err := ParsePublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// SignedPayload is what Kick signs: "<message id>.<timestamp>.<raw body>".
func SignedPayload(messageID, timestamp string, body []byte) []byte {
	b := make([]byte, 0, len(messageID)+len(timestamp)+2+len(body))
	b = append(b, messageID...)
	b = append(b, '.')
	b = append(b, timestamp...)
	b = append(b, '.')
	return append(b, body...)
}

// Verify checks the Kick-Event-Signature header value sigB64 (standard
// base64) of one delivery: RSASSA-PKCS1-v1_5 with SHA-256 over
// SignedPayload(messageID, timestamp, body).
func Verify(pub *rsa.PublicKey, messageID, timestamp string, body []byte, sigB64 string) error {
	sigB64 = strings.TrimSpace(sigB64)
	if sigB64 == "" {
		return ErrNoSignature
	}
	if len(sigB64) > maxSignatureChars {
		return fmt.Errorf("%w: header over %d characters", ErrBadSignature, maxSignatureChars)
	}
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	if err != nil {
		// Tolerate a sender that drops the padding or uses the URL alphabet.
		if sig, err = decodeLoose(sigB64); err != nil {
			return fmt.Errorf("%w: not base64", ErrBadSignature)
		}
	}
	h := sha256.New()
	h.Write([]byte(messageID))
	h.Write([]byte{'.'})
	h.Write([]byte(timestamp))
	h.Write([]byte{'.'})
	h.Write(body)
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, h.Sum(nil), sig); err != nil {
		return ErrBadSignature
	}
	return nil
}

func decodeLoose(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if b, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawURLEncoding.DecodeString(s)
}
