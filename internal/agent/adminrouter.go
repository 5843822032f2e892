package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/basalt-dcos/basalt/internal/adminrouter"
	"github.com/basalt-dcos/basalt/internal/iam"
	"github.com/basalt-dcos/basalt/internal/version"
)

// newAdminRouter binds the agent's Admin Router (nil, nil when off). Its
// tokens are checked with the masters' public keys, fetched from the
// masters' API port (over mTLS once the agent joined).
func (a *Agent) newAdminRouter() (*adminrouter.AgentRouter, net.Listener, error) {
	a.arAddr.Store("")
	if a.cfg.AdminRouterListen == "" {
		return nil, nil, nil
	}
	cfg := adminrouter.DefaultAgentConfig()
	cfg.Version, cfg.Commit = version.Version, version.Commit()
	cfg.Security = iam.Mode(a.cfg.Security)
	var auth adminrouter.TokenVerifier
	if cfg.Security != iam.ModeDisabled {
		rk, err := iam.NewRemoteKeys(iam.RemoteKeysConfig{Issuer: iam.ClusterIssuer, Fetch: a.fetchJWKS})
		if err != nil {
			return nil, nil, err
		}
		auth = rk
	}
	r, err := adminrouter.NewAgent(cfg, auth, a.log)
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", a.cfg.AdminRouterListen)
	if err != nil {
		return nil, nil, fmt.Errorf("admin router: listen on %s: %w", a.cfg.AdminRouterListen, err)
	}
	a.arAddr.Store(ln.Addr().String())
	return r, ln, nil
}

// fetchJWKS reads the masters' key set from the first master that answers.
func (a *Agent) fetchJWKS(ctx context.Context) ([]byte, error) {
	c := a.masterHTTP
	if c == nil {
		c = a.http
	}
	var errs []error
	for _, m := range a.cfg.Masters {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(m, "/")+"/acs/api/v1/auth/jwks", nil)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		resp, err := c.Do(req)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("GET %s: %s", req.URL.Redacted(), resp.Status)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		return body, nil
	}
	return nil, fmt.Errorf("no master gave its keys: %w", errors.Join(errs...))
}

// AdminRouterAddr is the bound address of the agent's Admin Router ("" when
// off or before Ready).
func (a *Agent) AdminRouterAddr() string {
	v, _ := a.arAddr.Load().(string)
	return v
}

// withAdminRouter also answers the Admin Router's paths (/system/,
// /dcos-metadata/, /pkgpanda/) on the agent's API port, with the same
// handler and checks: the masters know agents by that port and reach the
// agents' system APIs through it (/system/v1/agent/<id>/...). The router
// sees the raw path (no ServeMux cleaning) and refuses bad ones itself.
func withAdminRouter(ar *adminrouter.AgentRouter, api http.Handler) http.Handler {
	if ar == nil {
		return api
	}
	arh := ar.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		if strings.HasPrefix(p, "/system/") || strings.HasPrefix(p, "/dcos-metadata/") || strings.HasPrefix(p, "/pkgpanda/") {
			arh.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}
