package marathon_test

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/clustertest"
	v2 "github.com/basalt-dcos/basalt/pkg/marathon"
)

// listenInRange listens on a free 127.0.0.1 port inside the agents' port range.
func listenInRange(t *testing.T) net.Listener {
	t.Helper()
	for p := 31000; p < 32000; p++ {
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err == nil {
			return ln
		}
	}
	t.Fatal("no free port in 31000-31999")
	return nil
}

// A deployment waits for its new task's readiness check (run by the
// Marathon leader against the task's named port), then completes.
func TestReadinessCheckGatesDeployment(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Agents: 1, LoopbackHostnames: true})
	m := newClient(t, c)
	// The POST below is answered 503 until Marathon has won its election,
	// which takes a while on a loaded machine.
	c.MarathonLeader()
	ln := listenInRange(t)
	port := ln.Addr().(*net.TCPAddr).Port
	var ready atomic.Bool
	var probes atomic.Int32
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		probes.Add(1)
		if r.URL.Path == "/ready" && ready.Load() {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	var created v2.AppInfo
	code := m.do("POST", "/v2/apps", fmt.Sprintf(`{"id": "/ready", "cmd": "sleep 1000", "cpus": 0.1, "mem": 16,
		"requirePorts": true, "portDefinitions": [{"port": %d, "name": "http"}],
		"readinessChecks": [{"portName": "http", "path": "/ready", "intervalSeconds": 2, "timeoutSeconds": 1}]}`, port), &created)
	if code != http.StatusCreated {
		t.Fatalf("POST = %d", code)
	}
	clustertest.Eventually(t, 20*time.Second, func() error {
		if probes.Load() < 2 {
			return fmt.Errorf("%d readiness probes", probes.Load())
		}
		return nil
	})
	a := m.app("/ready")
	if a.TasksRunning != 1 || len(a.Deployments) != 1 {
		t.Fatalf("while not ready: running %d, deployments %v", a.TasksRunning, a.Deployments)
	}
	ds := m.deployments()
	if len(ds) != 1 || len(ds[0].CurrentActions) != 1 || len(ds[0].CurrentActions[0].ReadinessCheckResults) != 1 ||
		ds[0].CurrentActions[0].ReadinessCheckResults[0].Ready {
		t.Fatalf("deployment while not ready: %+v", ds)
	}
	ready.Store(true)
	m.waitApp("/ready", 1, 20*time.Second)
}

// DELETE /v2/leader hands Marathon leadership to another master.
func TestAbdicate(t *testing.T) {
	c := clustertest.New(t, clustertest.Options{Masters: 3})
	m := newClient(t, c)
	first := c.MarathonLeader()
	clustertest.Eventually(t, 10*time.Second, func() error {
		// A follower may not have seen the election yet (503).
		var msg v2.ErrorBody
		if code := m.do("DELETE", "/v2/leader", nil, &msg); code != 200 {
			return fmt.Errorf("DELETE /v2/leader = %d %+v", code, msg)
		}
		return nil
	})
	clustertest.Eventually(t, 20*time.Second, func() error {
		if l := c.MarathonLeader(); l == first {
			return fmt.Errorf("still led by %s", first.Name)
		}
		return nil
	})
	var l v2.Leader
	clustertest.Eventually(t, 10*time.Second, func() error {
		if _, err := m.try("GET", "/v2/leader", &l); err != nil {
			return err
		}
		if l.Leader == "" || "http://"+l.Leader == first.MarathonURL() {
			return fmt.Errorf("leader %q", l.Leader)
		}
		return nil
	})
}
