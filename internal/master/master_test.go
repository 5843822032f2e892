package master

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/store/storetest"
)

type node struct {
	m      *Master
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

func (n *node) stop(t testing.TB) {
	n.once.Do(func() {
		n.cancel()
		select {
		case err := <-n.done:
			if err != nil {
				t.Errorf("master run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("master did not stop")
		}
	})
}

func testConfig(t testing.TB) Config {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.MarathonListen = "127.0.0.1:0"
	cfg.DNS.Listen = "127.0.0.1:0"
	cfg.DNS.HTTPListen = "127.0.0.1:0"
	cfg.AdminRouterListen = "127.0.0.1:0"
	cfg.AdminRouterTLSListen = "127.0.0.1:0"
	cfg.AdvertiseIP = "127.0.0.1"
	cfg.AllocationInterval = 50 * time.Millisecond
	cfg.ShutdownTimeout = 2 * time.Second
	cfg.Security = "disabled" // tests of security set it
	return cfg
}

func startNodes(t testing.TB, cfgs []Config) []*node {
	t.Helper()
	var nodes []*node
	for i, cfg := range cfgs {
		m, err := New(cfg, storetest.Logger(t).With("node", i))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		n := &node{m: m, cancel: cancel, done: make(chan error, 1)}
		go func() { n.done <- m.Run(ctx) }()
		t.Cleanup(func() { n.stop(t) })
		nodes = append(nodes, n)
	}
	for _, n := range nodes {
		select {
		case <-n.m.Ready():
		case err := <-n.done:
			t.Fatalf("master failed to start: %v", err)
		case <-time.After(storetest.OpenTimeout):
			t.Fatal("master not ready")
		}
	}
	return nodes
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval
	}
}

func leaders(nodes []*node) []*node {
	var out []*node
	for _, n := range nodes {
		if n.m.IsLeader() {
			out = append(out, n)
		}
	}
	return out
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func TestSingleMaster(t *testing.T) {
	nodes := startNodes(t, []Config{testConfig(t)})
	eventually(t, "leader", func() bool { return nodes[0].m.IsLeader() })
	resp, err := http.Get(nodes[0].m.URL() + "/master/state")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("state: %d", resp.StatusCode)
	}
}

func TestThreeMasters(t *testing.T) {
	var members []string
	for i := range 3 {
		members = append(members, "m"+string(rune('0'+i))+"="+storetest.FreeURL(t))
	}
	var cfgs []Config
	for i := range 3 {
		cfg := testConfig(t)
		cfg.Masters = members
		cfg.StoreTLS = false // plain store between masters here; store TLS: internal/clustertest
		cfg.StoreName = "m" + string(rune('0'+i))
		cfgs = append(cfgs, cfg)
	}
	nodes := startNodes(t, cfgs)
	eventually(t, "one leader", func() bool { return len(leaders(nodes)) == 1 })
	leader := leaders(nodes)[0]
	notRaftLeader(t, leader, nodes)
	var standby *node
	for _, n := range nodes {
		if n != leader {
			standby = n
			break
		}
	}
	eventually(t, "standby knows the leader", func() bool {
		li, ok := standby.m.Mesos().Leader()
		return ok && li.URL == leader.m.URL()
	})
	resp, err := noRedirect.Get(standby.m.URL() + "/master/redirect")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != leader.m.URL() {
		t.Fatalf("redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	body := `{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"n"}}}`
	resp, err = noRedirect.Post(standby.m.URL()+"/api/v1/scheduler", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != leader.m.URL()+"/api/v1/scheduler" {
		t.Fatalf("scheduler on standby: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Reads on a standby are proxied to the leader.
	resp, err = http.Get(standby.m.URL() + "/master/state")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("proxied state: %d", resp.StatusCode)
	}

	// Kill the leader: another takes over.
	leader.stop(t)
	var rest []*node
	for _, n := range nodes {
		if n != leader {
			rest = append(rest, n)
		}
	}
	eventually(t, "a new leader", func() bool { return len(leaders(rest)) == 1 })
	newLeader := leaders(rest)[0]
	notRaftLeader(t, newLeader, rest)
	for _, n := range rest {
		if n == newLeader {
			continue
		}
		eventually(t, "the standby follows the new leader", func() bool {
			resp, err := noRedirect.Get(n.m.URL() + "/master/redirect")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusTemporaryRedirect && resp.Header.Get("Location") == newLeader.m.URL()
		})
	}
}

// notRaftLeader waits until the etcd raft leader is a running member other
// than the Mesos leader's, as every running member sees it.
func notRaftLeader(t *testing.T, leader *node, nodes []*node) {
	t.Helper()
	eventually(t, "the Mesos leader's member hands raft leadership to a peer", func() bool {
		if !leader.m.IsLeader() || leader.m.Store().IsRaftLeader() {
			return false
		}
		raft, found := leader.m.Store().RaftLeader(), false
		for _, n := range nodes {
			if n.m.Store().RaftLeader() != raft {
				return false
			}
			found = found || n.m.Store().IsRaftLeader()
		}
		return found
	})
}

func TestParseMasters(t *testing.T) {
	got, err := parseMasters([]string{"10.0.0.1", "10.0.0.2:2390", "x=http://h:1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.1:2380=http://10.0.0.1:2380", "10.0.0.2:2390=http://10.0.0.2:2390", "x=http://h:1"}
	for i, m := range got {
		if s := m.Name + "=" + m.PeerURL; s != want[i] {
			t.Errorf("member %d: %s, want %s", i, s, want[i])
		}
	}
	if _, err := parseMasters([]string{"x=ftp://h"}, 0); err == nil {
		t.Error("bad entry accepted")
	}
	cfg := DefaultConfig()
	if err := cfg.Validate(); err != nil {
		t.Errorf("default config: %v", err)
	}
}
