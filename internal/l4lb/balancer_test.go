package l4lb

import (
	"context"
	"net"
	"slices"
	"testing"

	"github.com/basalt-dcos/basalt/internal/dns/records"
)

func TestBalancerRun(t *testing.T) {
	fn := newFakeNet()
	b, err := New(testConfig(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	b.ipvs = func() bool { return false }
	b.newBackend = func(wake func()) backend {
		return newUserspace(b.cfg, b.log, fn, fn.listen, wake)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()

	backends, _ := startIdentityBackends(t, 2)
	// Many Syncs in a row never block; the last one wins.
	for i := range 50 {
		vips := []records.VIP{vip("11.0.0.1:80", "tcp", backends...)}
		if i%2 == 0 {
			vips = append(vips, vip("11.0.0.2:80", "tcp"))
		}
		b.Sync(vips)
	}
	want := []records.VIP{vip("11.0.0.1:80", "tcp", backends...), vip("11.0.0.3:8080", "tcp", backends[0]), {IP: vip("11.0.0.4:1", "tcp").IP, Port: 1, Protocol: "icmp"}}
	b.Sync(want)
	var st Status
	eventually(t, "the last Sync to be applied", func() bool {
		st = b.Status()
		return st.VIPs == 2 && len(st.Errors) == 1
	})
	if st.Mode != "userspace" || st.IPVSAvailable || !slices.EqualFunc(st.Backends, []VIPStatus{
		{IP: key("11.0.0.1:80", "tcp").IP, Port: 80, Protocol: "tcp", Backends: 2},
		{IP: key("11.0.0.3:8080", "tcp").IP, Port: 8080, Protocol: "tcp", Backends: 1},
	}, func(a, b VIPStatus) bool { return a == b }) {
		t.Errorf("status: %+v", st)
	}
	if len(st.Addresses) != 2 {
		t.Errorf("addresses %v, want 11.0.0.1 and 11.0.0.3", st.Addresses)
	}
	c, err := net.Dial("tcp", fn.addr(key("11.0.0.1:80", "tcp")))
	if err != nil {
		t.Fatal(err)
	}
	ic, err := openIdentity(c)
	if err != nil {
		t.Fatal(err)
	}
	defer ic.Close()

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	// Shutdown closes connections too and removes every address it added.
	if _, err := ic.r.ReadString('\n'); err == nil {
		t.Error("connection survived shutdown")
	}
	fn.mu.Lock()
	defer fn.mu.Unlock()
	if len(fn.present) != 0 {
		t.Errorf("addresses left after Run: %v", fn.present)
	}
	if err := b.Run(t.Context()); err == nil {
		t.Error("second Run accepted")
	}
}
