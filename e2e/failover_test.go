package e2e

import (
	"context"
	"github.com/basalt-dcos/basalt/internal/proccluster"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLeaderKillKeepsTasksRunning is the failover scenario of the kernel
// issue: 3 masters, 2 agents, the example framework with 4 long tasks; the
// leading master is killed with SIGKILL; a new leader is elected, agents and
// the framework reconnect on their own, the tasks are never restarted, and
// the framework keeps working (a task killed afterwards is relaunched
// through the new leader).
func TestLeaderKillKeepsTasksRunning(t *testing.T) {
	b := buildBins(t)
	c := startCluster(t, b, 3, 2)
	fw := startFramework(t, b.sleepfw, "--master", strings.Join(c.MasterURLs(), ","),
		"--tasks", "4", "--cmd", "sleep 613", "--cpus", "0.1", "--mem", "32",
		"--failover-timeout", "3600", "--relaunch-failed", "--max-retries", "5")

	waitFor(t, 60*time.Second, "4 tasks running", func(context.Context) error {
		if n := count(fw.latestStates(), "TASK_RUNNING"); n != 4 {
			return fmtErr("%d of 4 running: %v", n, fw.latestStates())
		}
		return nil
	})
	before, fwID, err := runningTasks(t.Context(), c)
	if err != nil || len(before) != 4 {
		t.Fatalf("master state before failover: %v %v", before, err)
	}
	pidsBefore := taskPIDs(t, c.Dir())

	leader, err := c.Leader(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("killing leader %s (pid %d)", leader.Name, leader.PID())
	if err := leader.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}

	waitFor(t, 60*time.Second, "new leader with agents, framework and the same 4 tasks", func(ctx context.Context) error {
		l, err := c.Leader(ctx)
		if err != nil {
			return err
		}
		if l == leader {
			return fmtErr("old leader still named")
		}
		st, err := c.State(ctx)
		if err != nil {
			return err
		}
		active := 0
		for _, s := range st.Slaves {
			if s.Active {
				active++
			}
		}
		if active != 2 {
			return fmtErr("%d of 2 agents re-registered", active)
		}
		tasks, id, err := runningTasks(ctx, c)
		if err != nil {
			return err
		}
		if id != fwID {
			return fmtErr("framework id %q, want %q", id, fwID)
		}
		for tid := range before {
			if tasks[tid] != "TASK_RUNNING" {
				return fmtErr("task %s is %q on the new leader", tid, tasks[tid])
			}
		}
		return nil
	})
	// No task was restarted: the same processes run.
	pidsAfter := taskPIDs(t, c.Dir())
	for pid := range pidsBefore {
		if !pidsAfter[pid] {
			t.Errorf("task process %d disappeared during failover", pid)
		}
	}
	for id, st := range fw.latestStates() {
		if st != "TASK_RUNNING" {
			t.Errorf("framework saw %s go to %s during failover", id, st)
		}
	}

	// The framework continues: kill one task's process; the framework sees
	// TASK_FAILED through the new leader and relaunches it.
	var victim int
	for pid := range pidsAfter {
		victim = pid
		break
	}
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "a replacement task running", func(context.Context) error {
		st := fw.latestStates()
		if n := count(st, "TASK_RUNNING"); n != 4 {
			return fmtErr("%d running: %v", n, st)
		}
		if len(st) < 5 {
			return fmtErr("no relaunch yet: %v", st)
		}
		return nil
	})

	// The killed master comes back as a standby and the cluster still has
	// one leader.
	if err := leader.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "restarted master redirects to the leader", func(ctx context.Context) error {
		l, err := c.Leader(ctx)
		if err != nil {
			return err
		}
		_ = l
		resp, err := (&noRedirect).Get(leader.URL + "/master/redirect")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 307 {
			return fmtErr("restarted master: /master/redirect %s", resp.Status)
		}
		return nil
	})
}

// taskPIDs finds this cluster's `sleep 613` task processes: those whose
// working directory is a sandbox under dir (another run of this test on the
// same machine has its own).
func taskPIDs(t *testing.T, dir string) map[int]bool {
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
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		if strings.Join(strings.Split(strings.TrimRight(string(b), "\x00"), "\x00"), " ") == "sleep 613" && proccluster.Under(pid, dir) {
			out[pid] = true
		}
	}
	return out
}

var noRedirect = httpClientNoRedirect()
