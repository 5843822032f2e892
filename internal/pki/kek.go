package pki

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/basalt-dcos/basalt/internal/secretfile"
)

// KEK is the key-encryption key of a cluster: an AES-256-GCM key that every
// master keeps on its own disk (never in the store) and uses to seal the
// private keys the store holds (the CA key, the IAM's signing keys, the
// master join secret). Whoever reads the store — a backup, a snapshot, an
// etcdctl session — gets ciphertext; whoever also holds a master's disk gets
// everything.
//
// Envelope format (one line of ASCII, safe in JSON):
//
//	bkek1:<key id: 16 hex>:<base64url(nonce(12) || ciphertext || tag(16))>
//
// The key id (the first 8 bytes of SHA-256 of the key) tells a master that
// holds another cluster's KEK apart from tampered data. The caller's
// additional data (the store key a value lives under) binds a sealed value
// to its place: a ciphertext copied to another key does not open.
type KEK struct {
	aead cipher.AEAD
	id   string
	raw  []byte // handed to joining masters over TLS, and written to their disk
}

const (
	kekSize        = 32
	envelopePrefix = "bkek1:"
	// maxEnvelope bounds what OpenEnvelope reads (an RSA-4096 PKCS#8 PEM
	// is ~3.3 KiB).
	maxEnvelope = 64 << 10
)

// NewKEK makes a KEK from 32 raw key bytes.
func NewKEK(raw []byte) (*KEK, error) {
	if len(raw) != kekSize {
		return nil, fmt.Errorf("key-encryption key: want %d bytes, have %d", kekSize, len(raw))
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	sum := sha256.Sum256(raw)
	return &KEK{aead: aead, id: hex.EncodeToString(sum[:8]), raw: bytes.Clone(raw)}, nil
}

// GenerateKEK makes a fresh random KEK and returns it with its raw bytes
// (for the file).
func GenerateKEK() (*KEK, []byte, error) {
	raw := make([]byte, kekSize)
	if _, err := rand.Read(raw); err != nil {
		return nil, nil, fmt.Errorf("generate key-encryption key: %w", err)
	}
	k, err := NewKEK(raw)
	return k, raw, err
}

// ID is the KEK's public identifier (not secret: a hash prefix).
func (k *KEK) ID() string { return k.id }

// String never shows the key.
func (k *KEK) String() string { return "KEK(" + k.id + ")" }

// Seal encrypts plaintext bound to aad and returns the envelope text.
func (k *KEK) Seal(plaintext []byte, aad string) (string, error) {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal: %w", err)
	}
	ct := k.aead.Seal(nonce, nonce, plaintext, []byte(aad))
	return envelopePrefix + k.id + ":" + base64.RawURLEncoding.EncodeToString(ct), nil
}

// Errors of Open.
var (
	// ErrNotEnvelope: the value is not a KEK envelope at all (for example a
	// plaintext key written before encryption at rest; callers migrate it).
	ErrNotEnvelope = errors.New("not a sealed value")
	// ErrWrongKEK: the envelope was sealed with another key-encryption key.
	ErrWrongKEK = errors.New("sealed with another key-encryption key")
)

// IsEnvelope reports whether s looks like a sealed value.
func IsEnvelope(s string) bool { return strings.HasPrefix(s, envelopePrefix) }

// Envelope is a parsed envelope.
type Envelope struct {
	KeyID      string
	Ciphertext []byte // nonce || ciphertext || tag
}

// ParseEnvelope parses the envelope text without decrypting it.
func ParseEnvelope(s string) (Envelope, error) {
	if len(s) > maxEnvelope {
		return Envelope{}, errors.New("sealed value: too long")
	}
	rest, ok := strings.CutPrefix(s, envelopePrefix)
	if !ok {
		return Envelope{}, ErrNotEnvelope
	}
	id, b64, ok := strings.Cut(rest, ":")
	if !ok || len(id) != 16 || !isHex(id) {
		return Envelope{}, errors.New("sealed value: want bkek1:<16 hex>:<base64url>")
	}
	ct, err := base64.RawURLEncoding.DecodeString(b64)
	if err != nil {
		return Envelope{}, errors.New("sealed value: ciphertext is not base64url")
	}
	if len(ct) < 12+16 {
		return Envelope{}, errors.New("sealed value: too short")
	}
	return Envelope{KeyID: strings.ToLower(id), Ciphertext: ct}, nil
}

// Open decrypts an envelope sealed for aad. Errors never quote the value.
func (k *KEK) Open(s, aad string) ([]byte, error) {
	env, err := ParseEnvelope(s)
	if err != nil {
		return nil, err
	}
	if env.KeyID != k.id {
		return nil, fmt.Errorf("%w (value: %s, this master: %s)", ErrWrongKEK, env.KeyID, k.id)
	}
	ns := k.aead.NonceSize()
	pt, err := k.aead.Open(nil, env.Ciphertext[:ns], env.Ciphertext[ns:], []byte(aad))
	if err != nil {
		return nil, errors.New("sealed value: authentication failed (tampered, or moved from another key)")
	}
	return pt, nil
}

// KEKFile is the KEK's file name inside a master's PKI directory.
const KEKFile = "kek"

// LoadKEK reads the KEK file (32 raw bytes, hex encoded). It returns an
// error wrapping os.ErrNotExist when there is none, and refuses a file that
// others can read.
func LoadKEK(path string) (*KEK, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("key-encryption key %s: mode %v lets others read it; chmod 600", path, fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	raw, err := hex.DecodeString(string(bytes.TrimSpace(data)))
	if err != nil {
		return nil, fmt.Errorf("key-encryption key %s: not hex", path)
	}
	return NewKEK(raw)
}

// WriteKEK writes raw to path (0600, directory 0700) unless the file exists
// already (os.ErrExist).
func WriteKEK(path string, raw []byte) error {
	if _, err := NewKEK(raw); err != nil {
		return err
	}
	return secretfile.Create(path, []byte(hex.EncodeToString(raw)+"\n"))
}
