package iam

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// AuthCookie and InfoCookie are the cookies DC/OS sets at login.
const (
	AuthCookie = "dcos-acs-auth-cookie"
	InfoCookie = "dcos-acs-info-cookie"
)

// maxTokenLen bounds the tokens we parse; ours are well under 1 KiB.
const maxTokenLen = 8 << 10

// tokenClaims are the claims of a DC/OS authentication token and of a service
// login token.
type tokenClaims struct {
	UID string `json:"uid"`
	jwt.RegisteredClaims
}

// IssueToken signs an authentication token for uid with the active key:
// RS256, kid in the header, claims uid, exp, iat, iss. uid must exist.
func (s *Service) IssueToken(uid string) (string, error) {
	sn := s.snap.Load()
	if _, ok := sn.users[uid]; !ok {
		return "", fmt.Errorf("issue token for %q: %w", uid, errUnknownUser)
	}
	now := s.cfg.Now()
	claims := tokenClaims{
		UID: uid,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    s.cfg.Issuer,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(s.cfg.TokenTTL)),
		},
	}
	k := sn.active()
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = k.kid
	signed, err := t.SignedString(k.priv)
	if err != nil {
		return "", fmt.Errorf("issue token for %q: %w", uid, err)
	}
	return signed, nil
}

func (s *Service) parser(extra ...jwt.ParserOption) *jwt.Parser {
	opts := append([]jwt.ParserOption{
		jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(s.cfg.ClockLeeway),
		jwt.WithTimeFunc(s.cfg.Now),
		jwt.WithStrictDecoding(),
	}, extra...)
	return jwt.NewParser(opts...)
}

// VerifyToken checks an authentication token: RS256 only, signed by one of the
// IAM's keys (named by kid), issued by this IAM, not expired, not issued or valid
// only in the future (beyond ClockLeeway), with a uid that still exists.
func (s *Service) VerifyToken(tok string) (Principal, error) {
	if tok == "" {
		return Principal{}, ErrNoToken
	}
	if len(tok) > maxTokenLen {
		return Principal{}, fmt.Errorf("%w: too long", ErrInvalidToken)
	}
	v, ok := s.verified.get(tok)
	if !ok {
		var err error
		if v, err = s.verifySigned(tok); err != nil {
			return Principal{}, err
		}
		s.verified.put(tok, v)
	}
	sn := s.snap.Load()
	// Checks that can change after the first verification.
	if s.cfg.Now().After(v.exp.Add(s.cfg.ClockLeeway)) {
		return Principal{}, fmt.Errorf("%w: token is expired", ErrInvalidToken)
	}
	if _, ok := sn.keys[v.kid]; !ok {
		return Principal{}, fmt.Errorf("%w: signing key %q retired", ErrInvalidToken, v.kid)
	}
	u, ok := sn.users[v.uid]
	if !ok {
		s.forceReload()
		sn = s.snap.Load()
		if u, ok = sn.users[v.uid]; !ok {
			return Principal{}, fmt.Errorf("%w: unknown uid %q", ErrInvalidToken, v.uid)
		}
	}
	// A user deleted and created again under the same uid does not inherit the
	// old account's tokens.
	if !v.iat.IsZero() && v.iat.Add(s.cfg.ClockLeeway).Before(u.CreatedAt) {
		return Principal{}, fmt.Errorf("%w: token older than account %q", ErrInvalidToken, v.uid)
	}
	return Principal{UID: u.UID, IsService: u.IsService, Superuser: sn.superuser(u.UID)}, nil
}

// verifySigned does the cryptographic and claim checks of VerifyToken.
func (s *Service) verifySigned(tok string) (verified, error) {
	var claims tokenClaims
	var kid string
	keyfunc := func(t *jwt.Token) (any, error) {
		kid, _ = t.Header["kid"].(string)
		if kid == "" {
			return nil, errors.New("no kid in header")
		}
		if k, ok := s.snap.Load().keys[kid]; ok {
			return k.pub, nil
		}
		// A key another master just created may not have reached us yet.
		s.forceReload()
		if k, ok := s.snap.Load().keys[kid]; ok {
			return k.pub, nil
		}
		return nil, fmt.Errorf("unknown kid %q", kid)
	}
	_, err := s.parser(jwt.WithIssuer(s.cfg.Issuer)).ParseWithClaims(tok, &claims, keyfunc)
	if err != nil {
		return verified{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if claims.UID == "" {
		return verified{}, fmt.Errorf("%w: no uid claim", ErrInvalidToken)
	}
	v := verified{uid: claims.UID, kid: kid, exp: claims.ExpiresAt.Time}
	if claims.IssuedAt != nil {
		v.iat = claims.IssuedAt.Time
	}
	return v, nil
}

// Authenticate finds the token of r (header "Authorization: token=<jwt>" or
// "Authorization: Bearer <jwt>", else the dcos-acs-auth-cookie cookie) and
// verifies it.
func (s *Service) Authenticate(r *http.Request) (Principal, error) {
	tok, err := tokenFromRequest(r)
	if err != nil {
		return Principal{}, err
	}
	return s.VerifyToken(tok)
}

func tokenFromRequest(r *http.Request) (string, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, rest, _ := strings.Cut(strings.TrimSpace(h), " ")
		switch {
		case len(h) >= 6 && strings.EqualFold(h[:6], "token="):
			return strings.TrimSpace(h[6:]), nil
		case strings.EqualFold(scheme, "bearer"):
			return strings.TrimSpace(rest), nil
		}
	}
	if c, err := r.Cookie(AuthCookie); err == nil && c.Value != "" {
		return c.Value, nil
	}
	return "", ErrNoToken
}

// verifyServiceLogin checks a service account's login token: RS256 signed by the
// account's own key, uid equal to the account, exp required and at most ten
// minutes (plus leeway) ahead.
func (s *Service) verifyServiceLogin(u userRecord, tok string) error {
	if len(tok) > maxTokenLen {
		return errors.New("login token too long")
	}
	pub, err := parsePublicKey(u.PublicKey)
	if err != nil {
		return err
	}
	var claims tokenClaims
	_, err = s.parser().ParseWithClaims(tok, &claims, func(*jwt.Token) (any, error) { return pub, nil })
	if err != nil {
		return err
	}
	if claims.UID != u.UID {
		return fmt.Errorf("login token uid %q is not %q", claims.UID, u.UID)
	}
	if claims.ExpiresAt.Time.After(s.cfg.Now().Add(serviceLoginMaxLifetime + s.cfg.ClockLeeway)) {
		return errors.New("login token valid for more than 10 minutes")
	}
	return nil
}

// parsePublicKey reads an RSA public key (PEM "PUBLIC KEY" or "RSA PUBLIC KEY")
// of at least 2048 bits.
func parsePublicKey(s string) (*rsa.PublicKey, error) {
	block, rest := pem.Decode([]byte(strings.TrimSpace(s)))
	if block == nil || len(strings.TrimSpace(string(rest))) != 0 {
		return nil, errors.New("public_key must be one PEM block")
	}
	var pub *rsa.PublicKey
	switch block.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("public_key: %w", err)
		}
		var ok bool
		if pub, ok = k.(*rsa.PublicKey); !ok {
			return nil, fmt.Errorf("public_key: %T is not an RSA key", k)
		}
	case "RSA PUBLIC KEY":
		k, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("public_key: %w", err)
		}
		pub = k
	default:
		return nil, fmt.Errorf("public_key: PEM type %q, want PUBLIC KEY", block.Type)
	}
	if pub.N.BitLen() < 2048 {
		return nil, fmt.Errorf("public_key: %d-bit RSA key, want at least 2048", pub.N.BitLen())
	}
	return pub, nil
}
