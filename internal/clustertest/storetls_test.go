package clustertest

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/basalt-dcos/basalt/internal/master"
	"github.com/basalt-dcos/basalt/internal/pki"
)

// A 3-master cluster whose store speaks mutual TLS: the first master
// bootstraps the CA, the others join with its master join token; a client
// without a certificate from the cluster CA is refused on the client and
// peer ports; the cluster elects, survives the loss of its leader and keeps
// serving; no private key is in the store in the clear.
func TestStoreTLSCluster(t *testing.T) {
	c := New(t, Options{Masters: 3, Agents: 1, StoreTLS: true, NoDNS: true})
	ca := c.Masters[0].Master().CACertPEM()
	for _, n := range c.Masters[1:] {
		if got := string(n.Master().CACertPEM()); got != string(ca) {
			t.Fatalf("%s has another CA", n.Name)
		}
	}
	for _, n := range c.Masters {
		for _, ep := range n.Master().Store().Endpoints() {
			if !strings.HasPrefix(ep, "https://") {
				t.Fatalf("%s: store endpoint %s is not https", n.Name, ep)
			}
			refusePlainClient(t, ep)
		}
	}
	for _, peer := range c.Masters[0].cfg.Masters {
		refusePeerWithoutCert(t, "https://"+peer)
	}

	// Join with the wrong master secret: 401; with a node token: 401 too.
	m1 := c.Masters[0].Master()
	good := m1.MasterJoinToken()
	bad := pki.JoinToken{CAHash: good.CAHash, Secret: strings.Repeat("0", 64)}
	_, _, err := pki.JoinMaster(t.Context(), m1.AdminRouterTLSURL(), bad, "intruder", []string{"127.0.0.9"}, nil)
	var se *pki.JoinStatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong master secret: %v, want 401", err)
	}
	_, _, err = pki.JoinMaster(t.Context(), m1.AdminRouterTLSURL(), m1.JoinToken(), "intruder", []string{"127.0.0.9"}, nil)
	if !errors.As(err, &se) || se.StatusCode != http.StatusUnauthorized {
		t.Fatalf("node token used as a master token: %v, want 401", err)
	}
	// Every master (not only the first) lets a master with the right token join.
	j, kek, err := pki.JoinMaster(t.Context(), c.Masters[2].Master().AdminRouterTLSURL(), good, "m4", []string{"127.0.0.4"}, nil)
	if err != nil {
		t.Fatalf("valid master token: %v", err)
	}
	if !j.Certificate.Leaf.IPAddresses[0].Equal([]byte{127, 0, 0, 4}) || kek == nil {
		t.Fatalf("joined master: cert for %v, kek %v", j.Certificate.Leaf.IPAddresses, kek)
	}
	// A master started with a wrong token stops with the refusal.
	cfg := c.Masters[1].cfg
	cfg.DataDir = t.TempDir()
	cfg.JoinToken = bad.Encode()
	cfg.Listen, cfg.MarathonListen, cfg.AdminRouterListen, cfg.AdminRouterTLSListen = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	m, err := master.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := m.Run(ctx); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("master with a wrong token: %v, want a 401 refusal", err)
	}

	assertNoPlainKeys(t, c)

	// Failover over TLS; the old leader (the bootstrap master or not)
	// restarts from its files.
	old := c.Leader()
	for i, n := range c.Masters {
		if n == old {
			c.StopMaster(i)
		}
	}
	if nl := c.Leader(); nl == old {
		t.Fatal("stopped master still leads")
	}
	c.WaitAgentsActive(1)
	for i, n := range c.Masters {
		if n == old {
			c.StartMaster(i) // restarts from its files, no token needed
		}
	}
	c.WaitAgentsActive(1)
}

// refusePlainClient: neither a plain-HTTP client nor a TLS client without a
// certificate can read the store.
func refusePlainClient(t *testing.T, ep string) {
	t.Helper()
	for _, tc := range []struct {
		name string
		cfg  clientv3.Config
	}{
		{"plaintext", clientv3.Config{Endpoints: []string{"http://" + strings.TrimPrefix(ep, "https://")}, DialTimeout: time.Second, Logger: zap.NewNop()}},
		{"TLS without a client certificate", clientv3.Config{Endpoints: []string{ep}, DialTimeout: time.Second, Logger: zap.NewNop(), TLS: &tls.Config{InsecureSkipVerify: true}}}, //nolint:gosec // the point is the missing client cert
	} {
		cli, err := clientv3.New(tc.cfg)
		if err != nil {
			continue // refused at dial: fine
		}
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		_, err = cli.Get(ctx, "/basalt/pki/ca")
		cancel()
		cli.Close()
		if err == nil {
			t.Errorf("%s: a %s client read the store", ep, tc.name)
		}
	}
}

// refusePeerWithoutCert: the peer port answers neither plain HTTP nor TLS
// without a certificate from the cluster CA.
func refusePeerWithoutCert(t *testing.T, u string) {
	t.Helper()
	plain := &http.Client{Timeout: 2 * time.Second}
	if resp, err := plain.Get(strings.Replace(u, "https://", "http://", 1) + "/members"); err == nil {
		resp.Body.Close()
		if resp.StatusCode < 400 {
			t.Errorf("%s: plain HTTP to the peer port: %s", u, resp.Status)
		}
	}
	noCert := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // see above
	defer noCert.CloseIdleConnections()
	if resp, err := noCert.Get(u + "/members"); err == nil {
		resp.Body.Close()
		t.Errorf("%s: TLS without a client certificate reached the peer port: %s", u, resp.Status)
	}
}

// assertNoPlainKeys: a raw read of the whole store finds no PEM private key.
func assertNoPlainKeys(t *testing.T, c *Cluster) {
	t.Helper()
	st := c.Masters[0].Master().Store()
	kvs, err := st.List(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range kvs {
		if strings.Contains(string(kv.Value), "PRIVATE KEY") {
			t.Errorf("store key %s holds a PEM private key in the clear", kv.Key)
		}
	}
	if len(kvs) == 0 {
		t.Fatal("empty store")
	}
}

// TestAllTLS: store TLS and API TLS together (what a production cluster
// runs): every master's Admin Router reaches the leading Mesos master over
// TLS (a standby proxies to the leader's https API port with the cluster
// CA), and agents keep to mTLS.
func TestAllTLS(t *testing.T) {
	c := New(t, Options{Masters: 3, Agents: 1, StoreTLS: true, AgentMTLS: true, NoDNS: true})
	for _, n := range c.Masters {
		var st struct {
			Slaves []struct {
				Active bool `json:"active"`
			} `json:"slaves"`
		}
		c.GetJSON(n.Master().AdminRouterURL()+"/mesos/master/state", &st)
		if len(st.Slaves) != 1 || !st.Slaves[0].Active {
			t.Fatalf("%s: /mesos/master/state through its Admin Router: %+v", n.Name, st)
		}
	}
}
