package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"sync"
	"sync/atomic"
	"time"

	"github.com/basalt-dcos/basalt/internal/agentapi"
	"github.com/basalt-dcos/basalt/internal/pki"
)

// join, with --join-token, obtains a node certificate from the first master
// that answers (internal/pki.Join on https://<master host:port>, the master
// API port with --api-tls) and switches the agent's HTTP client to mTLS for
// the agent protocol: requests to agentapi.Path go out over https (also
// after a 307 to the leader's http URL), verify the master against the
// cluster CA and present the node certificate. Other requests (fetching
// task URIs) are unchanged, and present the certificate only to servers
// that ask for one from the cluster CA. The returned func closes the new
// transport's idle connections (call it when the agent stops).
func (a *Agent) join(ctx context.Context) (func(), error) {
	if a.cfg.JoinToken == "" {
		return func() {}, nil
	}
	tok, err := pki.ParseJoinToken(a.cfg.JoinToken)
	if err != nil {
		return nil, err
	}
	base, ok := a.http.Transport.(*http.Transport)
	if a.http.Transport == nil {
		base, ok = http.DefaultTransport.(*http.Transport), true
	}
	if !ok {
		return nil, errors.New("join: the agent's HTTP client must use an *http.Transport")
	}
	var joined *pki.Joined
	var errs []error
	for _, m := range a.cfg.Masters {
		u, err := url.Parse(m)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		joined, err = pki.Join(ctx, "https://"+u.Host, tok, a.hostname, base)
		if err == nil {
			break
		}
		errs = append(errs, err)
	}
	if joined == nil {
		return nil, fmt.Errorf("join the cluster: %w", errors.Join(errs...))
	}
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	roots.AddCert(joined.CA)
	caSubject := joined.CA.RawSubject
	rn := &renewer{a: a, base: base}
	rn.cur.Store(joined)
	tr := base.Clone()
	tr.TLSClientConfig = &tls.Config{
		MinVersion: tls.VersionTLS12,
		RootCAs:    roots,
		GetClientCertificate: func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
			for _, ca := range cri.AcceptableCAs {
				if bytes.Equal(ca, caSubject) {
					return &rn.current(cri.Context()).Certificate, nil
				}
			}
			return &tls.Certificate{}, nil // not our cluster: no certificate
		},
	}
	a.http = &http.Client{Transport: agentTLS{tr}, CheckRedirect: a.http.CheckRedirect, Timeout: a.http.Timeout}
	a.masterHTTP = &http.Client{Transport: pki.HTTPSOnly{Transport: tr}, Timeout: 30 * time.Second}
	if a.disc != nil {
		// The DNS/VIP follower talks only to masters: every request over
		// mTLS, so that it reads the operator API as this node when the
		// masters' ports require credentials (security strict).
		a.disc.follower.HTTP = &http.Client{Transport: pki.HTTPSOnly{Transport: tr}}
	}
	a.log.Info("joined the cluster", "ca_sha256", pki.CertHash(joined.CA), "node", a.hostname, "not_after", joined.Certificate.Leaf.NotAfter)
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		rn.watch(wctx, tr.CloseIdleConnections)
	}()
	return func() {
		stop()
		<-done
		tr.CloseIdleConnections()
	}, nil
}

// agentTLS sends the agent protocol over https whatever the master URL says.
type agentTLS struct{ rt http.RoundTripper }

func (t agentTLS) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && path.Clean("/"+req.URL.Path) == agentapi.Path {
		r2 := req.Clone(req.Context())
		r2.URL.Scheme = "https"
		return t.rt.RoundTrip(r2)
	}
	return t.rt.RoundTrip(req)
}

// renewer holds the agent's node certificate and renews it over mTLS with
// the current one (internal/pki.Renew) on the first handshake after a third
// or less of its lifetime remains. Renewing inside the handshake callback
// costs that handshake one round trip, once per renewal, and needs no
// goroutine; a failed renewal keeps the current (still valid) certificate
// and is retried at the next handshake.
type renewer struct {
	a    *Agent
	base *http.Transport
	cur  atomic.Pointer[pki.Joined]
	mu   sync.Mutex
}

// watch renews the certificate when it is due even if no handshake asks
// for it: pooled connections (to a standby, say) can outlive a certificate,
// and a handshake with an expired one cannot renew it any more. After a
// renewal it drops idle connections, so the next requests present the new
// certificate. It returns when ctx is done.
func (r *renewer) watch(ctx context.Context, dropIdle func()) {
	for {
		j := r.cur.Load()
		leaf := j.Certificate.Leaf
		wait := time.Until(leaf.NotAfter.Add(-leaf.NotAfter.Sub(leaf.NotBefore) / 3))
		if wait < time.Second {
			wait = time.Second // due (or failing): try again each second
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if r.current(ctx) != j {
			dropIdle()
		}
	}
}

func (r *renewer) current(ctx context.Context) *pki.Joined {
	j := r.cur.Load()
	if !pki.RenewDue(j.Certificate.Leaf, time.Now()) || !r.mu.TryLock() {
		return j // fresh, or another handshake is renewing
	}
	defer r.mu.Unlock()
	var errs []error
	for _, m := range r.a.cfg.Masters {
		u, err := url.Parse(m)
		if err != nil {
			continue
		}
		next, err := pki.Renew(ctx, "https://"+u.Host, j, r.base)
		if err == nil {
			r.cur.Store(next)
			r.a.log.Info("renewed the node certificate", "not_after", next.Certificate.Leaf.NotAfter)
			return next
		}
		errs = append(errs, err)
	}
	r.a.log.Warn("renew the node certificate; keeping the current one", "not_after", j.Certificate.Leaf.NotAfter, "error", errors.Join(errs...))
	return j
}
