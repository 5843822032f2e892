package iam

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/basalt-dcos/basalt/internal/store"
)

// System service accounts: the identities a master's own components use
// when they call another component's port (DC/OS names them dcos_<name>).
// They are created at bootstrap by every master (create-if-absent) and hold
// only the permissions listed in SystemAccounts.
//
// Nobody holds a private key for them: a master mints their tokens with the
// IAM's signing key (in the store, which a master reads anyway), so there
// is no long-lived secret in a flag, a file or a log. The account's public
// key is one of a key pair whose private half is dropped at creation, so
// the login_token flow cannot be used to log in as a system account.
const (
	SystemMarathon    = "dcos_marathon"
	SystemAdminRouter = "dcos_adminrouter"
	SystemMesosDNS    = "dcos_mesos_dns"
)

// SystemAccount is one system service account and its grants (action full).
type SystemAccount struct {
	UID         string
	Description string
	Grants      []string
}

// EnsureSystemAccount creates the account if it is absent and makes sure it
// holds its grants. Masters starting together may both call it.
func (s *Service) EnsureSystemAccount(ctx context.Context, a SystemAccount) error {
	if err := ValidateUID(a.UID); err != nil {
		return err
	}
	if _, ok := s.snap.Load().users[a.UID]; !ok {
		pub, err := throwawayPublicKey()
		if err != nil {
			return fmt.Errorf("system account %s: %w", a.UID, err)
		}
		rec := userRecord{UID: a.UID, Description: a.Description, PublicKey: pub, IsService: true, CreatedAt: s.cfg.Now().UTC()}
		err = s.write(ctx, s.db.users.PutIfAbsentOp(a.UID, rec))
		if err != nil && !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("system account %s: %w", a.UID, err)
		}
	}
	sn := s.snap.Load()
	for _, rid := range a.Grants {
		if sn.allowed(a.UID, rid, ActionFull) {
			continue
		}
		if err := s.grant(ctx, "u", rid, a.UID, ActionFull); err != nil {
			return fmt.Errorf("system account %s: grant %s: %w", a.UID, rid, err)
		}
	}
	return nil
}

// throwawayPublicKey returns the PEM public key of a fresh key pair whose
// private key is not kept.
func throwawayPublicKey() (string, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}

// TokenSource hands out a token for one account, minted in process and
// renewed once half of its lifetime has passed (so a token in flight is
// never close to expiry). Safe for concurrent use.
type TokenSource struct {
	svc *Service
	uid string

	mu    sync.Mutex
	tok   string
	renew time.Time
}

// TokenSource returns a source of tokens for uid (which must exist when
// Token is called).
func (s *Service) TokenSource(uid string) *TokenSource {
	return &TokenSource{svc: s, uid: uid}
}

// UID is the account the source mints tokens for.
func (t *TokenSource) UID() string { return t.uid }

// Token returns a valid token, minting a new one when due.
func (t *TokenSource) Token() (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.svc.cfg.Now()
	if t.tok != "" && now.Before(t.renew) {
		return t.tok, nil
	}
	tok, err := t.svc.IssueToken(t.uid)
	if err != nil {
		return "", err
	}
	t.tok, t.renew = tok, now.Add(t.svc.cfg.TokenTTL/2)
	return tok, nil
}

// Transport adds "Authorization: token=<jwt>" from Source to requests that
// carry no Authorization header of their own. Use it only for clients that
// talk to the cluster's own components: the token must not reach a task.
type Transport struct {
	Base   http.RoundTripper // nil: http.DefaultTransport
	Source *TokenSource
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	if req.Header.Get("Authorization") != "" {
		return base.RoundTrip(req)
	}
	tok, err := t.Source.Token()
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("system identity %s: %w", t.Source.uid, err)
	}
	r2 := req.Clone(req.Context())
	r2.Header.Set("Authorization", "token="+tok)
	return base.RoundTrip(r2)
}

// CloseIdleConnections closes the base transport's idle connections.
func (t *Transport) CloseIdleConnections() {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	if c, ok := base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
