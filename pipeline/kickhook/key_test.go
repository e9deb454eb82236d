package kickhook_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"kickwatch/pipeline/kickhook"
	"kickwatch/pipeline/kickhook/kickhookfake"
)

// kickVector is the real delivery signed by Kick's production key (testdata/vector).
type kickVector struct {
	headers map[string]string
	body    []byte
}

func loadVector(t testing.TB) kickVector {
	t.Helper()
	var v kickVector
	if err := json.Unmarshal(readFile(t, filepath.Join("testdata", "vector", "headers.json")), &v.headers); err != nil {
		t.Fatal(err)
	}
	v.body = readFile(t, filepath.Join("testdata", "vector", "body.json"))
	return v
}

func defaultKey(t testing.TB) *rsa.PublicKey {
	t.Helper()
	k, err := kickhook.DefaultPublicKey()
	if err != nil {
		t.Fatalf("default key: %v", err)
	}
	return k
}

func TestVerify_KickVector(t *testing.T) {
	v := loadVector(t)
	pub := defaultKey(t)
	id, ts, sig := v.headers[kickhook.HeaderMessageID], v.headers[kickhook.HeaderTimestamp], v.headers[kickhook.HeaderSignature]
	if err := kickhook.Verify(pub, id, ts, v.body, sig); err != nil {
		t.Fatalf("Kick's own delivery does not verify with the embedded key: %v", err)
	}
	tampered := []struct {
		name        string
		id, ts, sig string
		body        []byte
	}{
		{name: "body", id: id, ts: ts, sig: sig, body: bytes.Replace(v.body, []byte("Multiplatform"), []byte("multiplatform"), 1)},
		{name: "body trailing newline", id: id, ts: ts, sig: sig, body: append(append([]byte(nil), v.body...), '\n')},
		{name: "message id", id: "01JQR5KV0QC94HMETWYNBWRW4Y", ts: ts, sig: sig, body: v.body},
		{name: "timestamp", id: id, ts: "2025-04-01T07:56:20Z", sig: sig, body: v.body},
		{name: "timestamp form", id: id, ts: "2025-04-01T07:56:19+00:00", sig: sig, body: v.body},
		{name: "signature bit", id: id, ts: ts, sig: "g" + sig[1:], body: v.body},
		{name: "signature not base64", id: id, ts: ts, sig: "!!!" + sig, body: v.body},
		{name: "signature huge", id: id, ts: ts, sig: strings.Repeat("A", 2000), body: v.body},
		{name: "signature missing", id: id, ts: ts, sig: "", body: v.body},
	}
	for _, tt := range tampered {
		err := kickhook.Verify(pub, tt.id, tt.ts, tt.body, tt.sig)
		if err == nil {
			t.Errorf("%s tampered: verified", tt.name)
			continue
		}
		if !errors.Is(err, kickhook.ErrBadSignature) && !errors.Is(err, kickhook.ErrNoSignature) {
			t.Errorf("%s tampered: error %v is not a signature error", tt.name, err)
		}
	}
	// Another key does not verify Kick's signature.
	tk, err := kickhookfake.TestKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := kickhook.Verify(&tk.PublicKey, id, ts, v.body, sig); err == nil {
		t.Error("Kick's delivery verified with the test key")
	}
}

func TestVerify_TestKeyRoundTrip(t *testing.T) {
	key, err := kickhookfake.TestKey()
	if err != nil {
		t.Fatal(err)
	}
	body := readFile(t, filepath.Join("testdata", "bodies", "mention.json"))
	sig, err := kickhookfake.Sign(key, "01JQR5KV0QC94HMETWYNBWRW4Z", "2025-08-20T07:07:45Z", body)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := kickhook.ParsePublicKey(readFile(t, filepath.Join("testdata", "test_public_key.pem")))
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(&key.PublicKey) {
		t.Fatal("testdata/test_public_key.pem is not the public half of kickhookfake.TestKey")
	}
	if err := kickhook.Verify(pub, "01JQR5KV0QC94HMETWYNBWRW4Z", "2025-08-20T07:07:45Z", body, sig); err != nil {
		t.Fatalf("verify: %v", err)
	}
	// Unpadded base64 (a lenient sender) still verifies.
	if err := kickhook.Verify(pub, "01JQR5KV0QC94HMETWYNBWRW4Z", "2025-08-20T07:07:45Z", body, strings.TrimRight(sig, "=")); err != nil {
		t.Fatalf("verify unpadded: %v", err)
	}
	if err := kickhook.Verify(defaultKey(t), "01JQR5KV0QC94HMETWYNBWRW4Z", "2025-08-20T07:07:45Z", body, sig); err == nil {
		t.Fatal("a test-key signature verified with Kick's key")
	}
}

func TestParsePublicKey(t *testing.T) {
	rsaKey, err := kickhookfake.TestKey()
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey)})
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallDER, err := x509.MarshalPKIXPublicKey(&small.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	private := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})
	tests := []struct {
		name    string
		pem     []byte
		wantErr string
	}{
		{"kick default", kickhook.DefaultPublicKeyPEM(), ""},
		{"pkcs1", pkcs1, ""},
		{"with text around", append([]byte("Kick's key:\n"), kickhook.DefaultPublicKeyPEM()...), ""},
		{"empty", nil, "no PEM block"},
		{"garbage", []byte("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"), "parse public key"},
		{"ec key", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: ecDER}), "not an RSA key"},
		{"1024-bit", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: smallDER}), "at least 2048"},
		{"private key", private, "not a public key"},
		{"huge", make([]byte, 65<<10), "over 64 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := kickhook.ParsePublicKey(tt.pem)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("error %v", err)
			case tt.wantErr == "" && k == nil:
				t.Fatal("nil key")
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestLoadPublicKey(t *testing.T) {
	k, err := kickhook.LoadPublicKey("")
	if err != nil || !k.Equal(defaultKey(t)) {
		t.Fatalf("empty path: key=%v err=%v, want Kick's key", k, err)
	}
	k, err = kickhook.LoadPublicKey(filepath.Join("testdata", "test_public_key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	tk, err := kickhookfake.TestKey()
	if err != nil {
		t.Fatal(err)
	}
	if !k.Equal(&tk.PublicKey) {
		t.Error("loaded key is not the test key")
	}
	if _, err := kickhook.LoadPublicKey(filepath.Join(t.TempDir(), "missing.pem")); err == nil {
		t.Error("no error for a missing file")
	}
	if _, err := kickhook.LoadPublicKey(filepath.Join("testdata", "vector", "body.json")); err == nil ||
		!strings.Contains(err.Error(), "body.json") {
		t.Errorf("err=%v, want one naming the file", err)
	}
}
