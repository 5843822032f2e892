package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/proccluster"
	v2 "github.com/basalt-dcos/basalt/pkg/marathon"
)

// docsApp is the first example app of the DC/OS documentation, unchanged.
const docsApp = `{
  "id": "/basic-0",
  "cmd": "while [ true ] ; do echo 'Hello Marathon' ; sleep 5 ; done",
  "cpus": 0.1,
  "mem": 10.0,
  "instances": 1
}`

// TestMarathonDocsAppSurvivesLeaderKill deploys a DC/OS docs app through a
// follower's Marathon (which proxies to the leader) on real processes, kills
// the Marathon leader's master with SIGKILL, and checks that the task keeps
// running and the new leader scales the app.
func TestMarathonDocsAppSurvivesLeaderKill(t *testing.T) {
	b := buildBins(t)
	c := startCluster(t, b, 3, 1)
	ctx := t.Context()

	leader := marathonLeader(t, c, nil)
	var follower *proccluster.Proc
	for _, m := range c.Masters {
		if m != leader {
			follower = m
			break
		}
	}
	status, body := marathonDo(ctx, "POST", follower.MarathonURL+"/v2/apps", docsApp)
	if status != http.StatusCreated {
		t.Fatalf("POST /v2/apps via a follower = %d %s", status, body)
	}
	var first string
	waitFor(t, 60*time.Second, "the docs app running", func(ctx context.Context) error {
		app, err := getApp(ctx, follower.MarathonURL, "/basic-0")
		if err != nil {
			return err
		}
		if app.TasksRunning != 1 || len(app.Tasks) != 1 {
			return fmtErr("%d running", app.TasksRunning)
		}
		first = app.Tasks[0].ID
		return nil
	})
	var pids map[int]bool
	waitFor(t, 30*time.Second, "the docs app's shell", func(context.Context) error {
		// RUNNING is reported once the supervisor starts; the shell follows.
		if pids = helloPIDs(t, c.Dir()); len(pids) != 1 {
			return fmtErr("processes running the docs app: %v", pids)
		}
		return nil
	})

	t.Logf("killing the Marathon leader's master %s (pid %d)", leader.Name, leader.PID())
	if err := leader.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	next := marathonLeader(t, c, leader)
	waitFor(t, 60*time.Second, "the same task, reconciled by the new leader", func(ctx context.Context) error {
		app, err := getApp(ctx, next.MarathonURL, "/basic-0")
		if err != nil {
			return err
		}
		if len(app.Tasks) != 1 || app.Tasks[0].ID != first || app.TasksRunning != 1 {
			return fmtErr("tasks %+v", app.Tasks)
		}
		return nil
	})
	if got := helloPIDs(t, c.Dir()); len(got) != 1 || !got[firstKey(pids)] {
		t.Fatalf("task process changed across the failover: before %v after %v", pids, got)
	}
	waitFor(t, 60*time.Second, "scale to 2 through the new leader", func(ctx context.Context) error {
		if status, body := marathonDo(ctx, "PUT", next.MarathonURL+"/v2/apps/basic-0", `{"instances": 2}`); status != http.StatusOK {
			return fmtErr("PUT = %d %s", status, body)
		}
		return nil
	})
	waitFor(t, 60*time.Second, "2 tasks running", func(ctx context.Context) error {
		app, err := getApp(ctx, next.MarathonURL, "/basic-0")
		if err != nil {
			return err
		}
		if app.TasksRunning != 2 || len(app.Deployments) != 0 {
			return fmtErr("%d running, deployments %v", app.TasksRunning, app.Deployments)
		}
		return nil
	})
}

func firstKey(m map[int]bool) int {
	for k := range m {
		return k
	}
	return 0
}

// helloPIDs finds the shells running the docs app under dir.
func helloPIDs(t *testing.T, dir string) map[int]bool {
	t.Helper()
	out := map[int]bool{}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err == nil && bytes.Contains(cmdline, []byte("Hello Marathon")) && proccluster.Under(pid, dir) {
			out[pid] = true
		}
	}
	return out
}

// marathonLeader waits for a Marathon leader other than not.
func marathonLeader(t *testing.T, c *proccluster.Cluster, not *proccluster.Proc) *proccluster.Proc {
	t.Helper()
	var leader *proccluster.Proc
	waitFor(t, 60*time.Second, "a Marathon leader", func(ctx context.Context) error {
		for _, m := range c.Masters {
			if m == not || !m.Running() {
				continue
			}
			status, body := marathonDo(ctx, "GET", m.MarathonURL+"/v2/leader", "")
			if status != http.StatusOK {
				continue
			}
			var l v2.Leader
			if json.Unmarshal(body, &l) != nil {
				continue
			}
			for _, cand := range c.Masters {
				if cand != not && strings.TrimPrefix(cand.MarathonURL, "http://") == l.Leader {
					leader = cand
					return nil
				}
			}
			return fmtErr("leader %q is not a live master", l.Leader)
		}
		return fmtErr("no master answers /v2/leader")
	})
	return leader
}

func getApp(ctx context.Context, base, id string) (v2.AppInfo, error) {
	status, body := marathonDo(ctx, "GET", base+"/v2/apps"+id+"?embed=app.tasks", "")
	if status != http.StatusOK {
		return v2.AppInfo{}, fmtErr("GET app = %d %s", status, body)
	}
	var r struct {
		App v2.AppInfo `json:"app"`
	}
	err := json.Unmarshal(body, &r)
	return r.App, err
}

func marathonDo(ctx context.Context, method, url, body string) (int, []byte) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, []byte(err.Error())
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}
