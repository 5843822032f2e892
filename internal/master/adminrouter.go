package master

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/basalt-dcos/basalt/internal/adminrouter"
	"github.com/basalt-dcos/basalt/internal/iam"
	"github.com/basalt-dcos/basalt/internal/marathon"
	"github.com/basalt-dcos/basalt/internal/mesos"
	"github.com/basalt-dcos/basalt/internal/store"
	"github.com/basalt-dcos/basalt/internal/version"
)

// arUpstreams tells the Admin Router where the leaders are, from this
// master's own view of the elections (atomic loads per request).
type arUpstreams struct {
	m   *Master
	mm  *mesos.Master
	mar *marathon.Marathon // nil when Marathon is off
}

func (u arUpstreams) MesosLeader() (string, bool) {
	li, ok := u.mm.Leader()
	if !ok || li.URL == "" {
		return "", false
	}
	if u.m.cfg.APITLS {
		// Master to master over TLS (the leader's API port speaks both;
		// the upstream transport trusts the cluster CA: tls.go).
		return strings.Replace(li.URL, "http://", "https://", 1), true
	}
	return li.URL, true
}

func (u arUpstreams) MarathonLeader() (string, bool) {
	if u.mar == nil {
		return "", false
	}
	l := u.mar.Leader()
	if l == "" {
		return "", false
	}
	if u.m.cfg.APITLS {
		return "https://" + l, true // Marathon's port speaks TLS too (serveMarathonTLS)
	}
	return "http://" + l, true
}

func (u arUpstreams) MesosDNS() string { return u.m.DNSHTTPURL() }

// leaderHost reports whether host (host:port) is the Mesos or the Marathon
// leader's port as this master knows it now.
func (u arUpstreams) leaderHost(host string) bool {
	if li, ok := u.mm.Leader(); ok {
		if lu, err := url.Parse(li.URL); err == nil && lu.Host == host {
			return true
		}
	}
	return u.mar != nil && u.mar.Leader() == host
}

// arTransport carries the Admin Router's upstream requests: those for the
// leaders of Mesos and Marathon (other masters' ports) over the peer
// transport, with the cluster CA as the only root; the rest (agents,
// tasks' services) over base, which also trusts the system roots.
type arTransport struct {
	base *http.Transport
	peer http.RoundTripper
	up   arUpstreams
}

func (t arTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "https" && t.up.leaderHost(req.URL.Host) {
		return t.peer.RoundTrip(req)
	}
	return t.base.RoundTrip(req)
}

// CloseIdleConnections closes base's (the peer transport is closed with
// the master's other peer transports).
func (t arTransport) CloseIdleConnections() { t.base.CloseIdleConnections() }

// arCluster answers the metadata routes from the store.
type arCluster struct {
	st *store.Store

	mu sync.Mutex
	id string // the cluster ID never changes once read
}

func (c *arCluster) ClusterID(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.id != "" {
		return c.id, nil
	}
	id, err := c.st.EnsureClusterID(ctx)
	if err != nil {
		return "", err
	}
	c.id = id
	return id, nil
}

func (c *arCluster) StoreMembers(ctx context.Context) ([]adminrouter.ExhibitorServer, error) {
	st, err := c.st.Status(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]adminrouter.ExhibitorServer, 0, len(st.Members))
	for _, mem := range st.Members {
		host := mem.Name
		for _, pu := range mem.PeerURLs {
			if u, err := url.Parse(pu); err == nil {
				if h, _, err := net.SplitHostPort(u.Host); err == nil {
					host = h
					break
				}
			}
		}
		out = append(out, adminrouter.ExhibitorServer{Code: 3, Description: "serving", Hostname: host, IsLeader: mem.IsLeader})
	}
	return out, nil
}

// newAdminRouter builds this master's Admin Router.
func (m *Master) newAdminRouter(ip string, mm *mesos.Master, mar *marathon.Marathon, st *store.Store, auth *iam.Service) (*adminrouter.Router, error) {
	cfg := adminrouter.DefaultConfig()
	cfg.PublicIPv4 = ip
	cfg.Version = version.Version
	cfg.Commit = version.Commit()
	if m.cfg.AdminRouterCacheTTL > 0 {
		cfg.CacheTTL = m.cfg.AdminRouterCacheTTL
	}
	cfg.ShutdownTimeout = m.cfg.ShutdownTimeout
	cfg.Security = iam.Mode(m.cfg.Security)
	up := arUpstreams{m: m, mm: mm, mar: mar}
	var tr http.RoundTripper = m.front.transport() // closed by serveAdminRouter (tls.go)
	if f := m.front.tls.Load(); f != nil && f.peerTLS != nil {
		tr = arTransport{base: m.front.transport(), peer: f.peerTransport(64), up: up}
	}
	r, err := adminrouter.New(cfg, adminrouter.Deps{
		Auth:      auth,
		Upstreams: up,
		Cluster:   &arCluster{st: st},
		Transport: tr,
		// The caches read as the router's system account (portauth.go).
		ResolverTransport: m.systemTransport(tr, iam.SystemAdminRouter),
		Logger:            m.log,
	})
	if err != nil {
		return nil, fmt.Errorf("admin router: %w", err)
	}
	return r, nil
}

// AdminRouterAddr is the advertised host:port of the Admin Router ("" before
// Ready or when disabled).
func (m *Master) AdminRouterAddr() string { return m.arAddr.Load().(string) }

// AdminRouterURL is the base URL of the Admin Router ("" before Ready or
// when disabled).
func (m *Master) AdminRouterURL() string {
	if a := m.AdminRouterAddr(); a != "" {
		return "http://" + a
	}
	return ""
}
