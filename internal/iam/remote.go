package iam

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// RemoteKeys verifies tokens where there is no IAM, on agents: with the
// masters' public keys (their JWKS), fetched on first use and again when a
// token names a key not seen yet (a rotation), at most once per
// MinRefetch. It checks the signature (RS256 only), kid, iss, exp and iat;
// it cannot check that the account still exists or what it may do.
type RemoteKeys struct {
	cfg RemoteKeysConfig

	mu      sync.Mutex
	keys    map[string]*rsa.PublicKey
	fetched time.Time // last fetch attempt
}

// RemoteKeysConfig configures RemoteKeys.
type RemoteKeysConfig struct {
	// Issuer is the "iss" the masters put in tokens (master: "basalt").
	Issuer string
	// Fetch returns the masters' JWKS document (GET /acs/api/v1/auth/jwks).
	Fetch func(ctx context.Context) ([]byte, error)
	// MinRefetch spaces fetches triggered by unknown kids (default 5 s).
	MinRefetch time.Duration
	// Leeway tolerates clock skew (default 30 s); Now is the clock.
	Leeway time.Duration
	Now    func() time.Time
}

// NewRemoteKeys returns a verifier; it does no I/O.
func NewRemoteKeys(cfg RemoteKeysConfig) (*RemoteKeys, error) {
	if cfg.Issuer == "" || cfg.Fetch == nil {
		return nil, errors.New("iam: remote keys need an issuer and a fetch function")
	}
	if cfg.MinRefetch <= 0 {
		cfg.MinRefetch = 5 * time.Second
	}
	if cfg.Leeway <= 0 {
		cfg.Leeway = DefaultClockLeeway
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &RemoteKeys{cfg: cfg}, nil
}

// Authenticate finds the token of r as Service.Authenticate does and
// verifies it.
func (k *RemoteKeys) Authenticate(r *http.Request) (Principal, error) {
	tok, err := tokenFromRequest(r)
	if err != nil {
		return Principal{}, err
	}
	return k.VerifyToken(r.Context(), tok)
}

// VerifyToken checks tok against the masters' keys.
func (k *RemoteKeys) VerifyToken(ctx context.Context, tok string) (Principal, error) {
	if tok == "" {
		return Principal{}, ErrNoToken
	}
	if len(tok) > maxTokenLen {
		return Principal{}, fmt.Errorf("%w: too long", ErrInvalidToken)
	}
	var claims tokenClaims
	keyfunc := func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("no kid in header")
		}
		return k.key(ctx, kid)
	}
	p := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(k.cfg.Leeway),
		jwt.WithTimeFunc(k.cfg.Now),
		jwt.WithStrictDecoding(),
		jwt.WithIssuer(k.cfg.Issuer),
	)
	if _, err := p.ParseWithClaims(tok, &claims, keyfunc); err != nil {
		return Principal{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if claims.UID == "" {
		return Principal{}, fmt.Errorf("%w: no uid claim", ErrInvalidToken)
	}
	return Principal{UID: claims.UID}, nil
}

// key returns the public key kid, fetching the key set when kid is not
// known and the last fetch is old enough.
func (k *RemoteKeys) key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if pub, ok := k.keys[kid]; ok {
		return pub, nil
	}
	now := k.cfg.Now()
	if !k.fetched.IsZero() && now.Sub(k.fetched) < k.cfg.MinRefetch {
		return nil, fmt.Errorf("unknown kid %q", kid)
	}
	k.fetched = now
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	doc, err := k.cfg.Fetch(fctx)
	if err != nil {
		return nil, fmt.Errorf("fetch the masters' keys: %w", err)
	}
	keys, err := ParseJWKS(doc)
	if err != nil {
		return nil, fmt.Errorf("the masters' keys: %w", err)
	}
	k.keys = keys
	if pub, ok := keys[kid]; ok {
		return pub, nil
	}
	return nil, fmt.Errorf("unknown kid %q", kid)
}

// maxJWKS bounds a key set document.
const maxJWKS = 1 << 20

// ParseJWKS reads the RSA signature keys of a JWKS document (RFC 7517),
// by kid. Keys of other types or uses are skipped; an RSA key that does not
// parse, a modulus under 2048 bits or a duplicate kid is an error.
func ParseJWKS(doc []byte) (map[string]*rsa.PublicKey, error) {
	if len(doc) > maxJWKS {
		return nil, errors.New("jwks: document too large")
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	out := map[string]*rsa.PublicKey{}
	for _, j := range set.Keys {
		if j.Kty != "RSA" || (j.Use != "" && j.Use != "sig") || (j.Alg != "" && j.Alg != "RS256") {
			continue
		}
		if j.Kid == "" {
			return nil, errors.New("jwks: a key without kid")
		}
		if _, dup := out[j.Kid]; dup {
			return nil, fmt.Errorf("jwks: kid %q twice", j.Kid)
		}
		n, err1 := base64.RawURLEncoding.DecodeString(j.N)
		e, err2 := base64.RawURLEncoding.DecodeString(j.E)
		if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 {
			return nil, fmt.Errorf("jwks: key %q: bad n or e", j.Kid)
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		if pub.N.BitLen() < 2048 || pub.E < 3 || pub.E%2 == 0 {
			return nil, fmt.Errorf("jwks: key %q: modulus under 2048 bits or bad exponent", j.Kid)
		}
		out[j.Kid] = pub
	}
	return out, nil
}
