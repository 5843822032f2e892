package pki

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// tokenPrefix starts every full join token, as in k3s ("K10" + CA hash).
const tokenPrefix = "K10"

// JoinToken is what a node needs to join the cluster: the hash of the CA it
// must find (so it cannot be talked into trusting another CA) and the
// cluster's shared secret. Its text form is K10<hex sha256 of the CA
// certificate's DER>::<secret>.
//
// String and LogValue redact the secret; Encode is the full token.
type JoinToken struct {
	CAHash string
	Secret string
}

// Encode is the full token text, secret included: print it only where the
// user asked for it (basalt up's join-token file).
func (t JoinToken) Encode() string { return tokenPrefix + t.CAHash + "::" + t.Secret }

// String is the token with its secret redacted.
func (t JoinToken) String() string { return tokenPrefix + t.CAHash + "::<redacted>" }

// LogValue keeps the secret out of logs.
func (t JoinToken) LogValue() slog.Value { return slog.StringValue(t.String()) }

// ParseJoinToken parses K10<64 hex digits>::<secret>. The secret is 16-256
// characters of letters, digits and ._~:-. Errors never quote the secret.
func ParseJoinToken(s string) (JoinToken, error) {
	s = strings.TrimSpace(s)
	rest, ok := strings.CutPrefix(s, tokenPrefix)
	if !ok {
		return JoinToken{}, errors.New("join token: want K10<CA hash>::<secret> (a bare secret does not pin the cluster CA)")
	}
	hash, secret, ok := strings.Cut(rest, "::")
	if !ok {
		return JoinToken{}, errors.New("join token: missing \"::\" between the CA hash and the secret")
	}
	if len(hash) != 64 || !isHex(hash) {
		return JoinToken{}, errors.New("join token: the CA hash must be 64 hex digits (SHA-256)")
	}
	if err := checkSecret(secret); err != nil {
		return JoinToken{}, fmt.Errorf("join token: %w", err)
	}
	return JoinToken{CAHash: strings.ToLower(hash), Secret: secret}, nil
}

func checkSecret(s string) error {
	if len(s) < 16 || len(s) > 256 {
		return errors.New("the secret must be 16-256 characters")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._~:-", c) >= 0) {
			return errors.New("the secret may hold only letters, digits and ._~:-")
		}
	}
	return nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
