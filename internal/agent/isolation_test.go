package agent

import (
	"errors"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/containerizer/mesos"
	"github.com/basalt-dcos/basalt/internal/containerizer/posix"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// requireIsolation skips outside CI where the mesos runtime cannot run, and
// fails under CI=true.
func requireIsolation(t testing.TB) {
	t.Helper()
	if _, err := mesos.Available(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the mesos runtime must be testable in CI: %v", err)
		}
		t.Skipf("skipping: %v (runs as root on a host with cgroups; required under CI=true)", err)
	}
}

// isolatedConfig is a test agent on the default runtimes (mesos).
func isolatedConfig(t testing.TB, m *fakeMaster) Config {
	cfg := testConfig(t, m)
	cfg.Containerizers = DefaultConfig().Containerizers
	return cfg
}

// testCgroupsRoot is a cgroup root for one test agent, removed with what is
// left under it once the test (and its agent, whose containers outlive it
// by design) is done.
func testCgroupsRoot(t testing.TB) string {
	root := "basalt-agent-test-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	t.Cleanup(func() {
		if _, err := mesos.Available(); err == nil {
			if err := mesos.RemoveCgroupsRoot(root, 10*time.Second); err != nil {
				t.Errorf("remove test cgroups: %v", err)
			}
		}
	})
	return root
}

// TestPlainTasksRunIsolated: by default a root agent with cgroups runs
// command tasks in the mesos runtime and says so in /state; a task over
// its memory ends TASK_FAILED with REASON_CONTAINER_LIMITATION_MEMORY.
func TestPlainTasksRunIsolated(t *testing.T) {
	requireIsolation(t)
	m := newFakeMaster(t)
	a := startAgent(t, isolatedConfig(t, m), nil)
	var st StateResponse
	getJSON(t, a.Agent, "/state", &st)
	if st.Isolation == nil || st.Isolation.Runtime != mesos.Name || st.Isolation.Warning != "" ||
		(st.Isolation.CgroupVersion != "v1" && st.Isolation.CgroupVersion != "v2") {
		t.Fatalf("/state isolation = %+v, want the mesos runtime", st.Isolation)
	}
	if !strings.Contains(st.Flags["isolation"], "cgroups/mem") {
		t.Errorf("/flags isolation = %q", st.Flags["isolation"])
	}
	fw := testFramework("fw-iso")
	m.send(launchEvent(fw, shellTask("hog", "exec dd if=/dev/zero of=/dev/null bs=256M count=1")))
	if u := m.waitState("hog", mesosv1.TaskFailed); u.Status.Reason != mesosv1.ReasonContainerLimitationMemory {
		t.Errorf("TASK_FAILED with reason %q (%s), want %s", u.Status.Reason, u.Status.Message, mesosv1.ReasonContainerLimitationMemory)
	}
	m.send(launchEvent(fw, shellTask("ok", "hostname > /dev/null; exit 0")))
	m.waitState("ok", mesosv1.TaskFinished)
}

// TestMesosFallsBackToPosix: where the host cannot isolate, plain tasks
// run with posix and the reason is kept for /state and the log.
func TestMesosFallsBackToPosix(t *testing.T) {
	cfg := DefaultConfig()
	cz, info, err := newMesosRuntime(cfg, t.TempDir(), nil, slog.New(slog.DiscardHandler),
		func() (string, error) { return "", errors.New("the mesos runtime needs root") })
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := cz.(interface{ Close() error }); ok {
		t.Cleanup(func() { _ = c.Close() })
	}
	if cz.Name() != posix.Name || info.Runtime != posix.Name || !strings.Contains(info.Warning, "needs root") {
		t.Errorf("fallback: runtime %s, info %+v; want posix with the reason", cz.Name(), info)
	}
	if got := info.isolationFlag(); got != "posix/cpu,posix/mem,posix/disk" {
		t.Errorf("isolation flag %q", got)
	}
}

// BenchmarkLaunchToRunningMesos is BenchmarkLaunchToRunningPosix on the
// mesos runtime (namespaces, cgroups). Run with -benchtime=50x.
func BenchmarkLaunchToRunningMesos(b *testing.B) {
	requireIsolation(b)
	m := newFakeMaster(b)
	startAgent(b, isolatedConfig(b, m), nil)
	benchLaunchToRunning(b, m, func(id string) mesosv1.TaskInfo { return shellTask(id, "sleep 1000") })
}

// BenchmarkConcurrentLaunchesMesos launches 100 tasks at once on one agent
// (one LAUNCH event each) and reports how many reach TASK_RUNNING per second.
func BenchmarkConcurrentLaunchesMesos(b *testing.B) {
	requireIsolation(b)
	benchConcurrentLaunches(b, "mesos")
}

// BenchmarkConcurrentLaunchesPosix is the same on the posix runtime, for
// comparison.
func BenchmarkConcurrentLaunchesPosix(b *testing.B) { benchConcurrentLaunches(b, "posix") }

func benchConcurrentLaunches(b *testing.B, runtime string) {
	const n = 100
	m := newFakeMaster(b)
	cfg := testConfig(b, m)
	cfg.Containerizers = []string{runtime}
	cfg.Resources = "cpus:200;mem:100000;disk:10000;ports:[31000-32000]"
	// A burst of 100 launches keeps the agent busy for longer than the test
	// heartbeat's 160 ms silence limit; launch events sent while it
	// reconnects would be lost.
	cfg.HeartbeatInterval = 2 * time.Second
	startAgent(b, cfg, nil)
	var total time.Duration
	for round := 0; b.Loop(); round++ {
		fw := testFramework("bench-" + strconv.Itoa(round))
		start := time.Now()
		for i := range n {
			m.send(launchEvent(fw, shellTask("c-"+strconv.Itoa(round)+"-"+strconv.Itoa(i), "sleep 1000")))
		}
		for i := range n {
			m.waitFor(b, "c-"+strconv.Itoa(round)+"-"+strconv.Itoa(i), mesosv1.TaskRunning)
		}
		total += time.Since(start)
		b.StopTimer()
		for i := range n {
			m.send(killEvent(fw.ID.Value, "c-"+strconv.Itoa(round)+"-"+strconv.Itoa(i), 0))
		}
		for i := range n {
			m.waitFor(b, "c-"+strconv.Itoa(round)+"-"+strconv.Itoa(i), mesosv1.TaskKilled)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "tasks/s")
}
