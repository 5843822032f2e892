package agent

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/client"

	"github.com/basalt-dcos/basalt/internal/agentapi"
	"github.com/basalt-dcos/basalt/internal/containerizer"
	"github.com/basalt-dcos/basalt/internal/containerizer/docker"
	"github.com/basalt-dcos/basalt/internal/containerizer/docker/dockertest"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// dockerConfig is testConfig with the docker runtime on the local daemon
// (cli: nil for a daemon that is not there). Whatever the agent leaves in
// Docker is removed when the test ends.
func dockerConfig(t testing.TB, m *fakeMaster, cli *client.Client) Config {
	cfg := testConfig(t, m)
	cfg.Containerizers = []string{"posix", "docker"}
	// A busy daemon slows the whole host: the 50 ms heartbeat of
	// testConfig would have the agent drop its master stream (and the fake
	// master's events on it) while Docker works.
	cfg.HeartbeatInterval = time.Second
	cfg.Docker.Socket = filepath.Join(t.TempDir(), "no-docker.sock")
	if cli != nil {
		cfg.Docker.Socket = dockertest.Host(cli)
		dockertest.RemoveContainersAtCleanup(t, cli, docker.LabelOwner, cfg.WorkDir)
	}
	return cfg
}

// waitAll waits for an update with state of every task, however long a
// loaded daemon takes (a benchmark measures, it does not time out early).
func (m *fakeMaster) waitAll(b *testing.B, tasks []mesosv1.TaskInfo, state string) {
	deadline := time.Now().Add(3 * time.Minute)
	for _, ti := range tasks {
		for !slices.ContainsFunc(m.updatesOf(ti.TaskID.Value), func(u agentapi.StatusUpdate) bool { return u.Status.State == state }) {
			if time.Now().After(deadline) {
				b.Fatalf("task %s not %s after 3 minutes", ti.TaskID.Value, state)
			}
			select {
			case <-m.updated:
			case <-time.After(time.Second):
			}
		}
	}
}

func dockerTask(id, image, cmd string) mesosv1.TaskInfo {
	ti := shellTask(id, cmd)
	ti.Container = &mesosv1.ContainerInfo{Type: "DOCKER", Docker: &mesosv1.DockerInfo{Image: image, Network: "NONE"}}
	return ti
}

// TestDockerTaskSurvivesRestart: a DOCKER task runs with its sandbox
// mounted and its output in the sandbox; a restarted agent adopts it, kills
// it, and removes its container once the end is acknowledged.
func TestDockerTaskSurvivesRestart(t *testing.T) {
	cli := dockertest.Client(t)
	img := dockertest.Image(t, cli)
	m := newFakeMaster(t)
	cfg := dockerConfig(t, m, cli)
	a1 := startAgent(t, cfg, nil)
	if sub := m.lastSubscribe(); !slices.Contains(sub.Runtimes, "docker") {
		t.Fatalf("runtimes advertised %v, want docker", sub.Runtimes)
	}
	fw := testFramework("fw-d")
	m.send(launchEvent(fw, dockerTask("web", img, `echo "sandbox=$MESOS_SANDBOX"; touch ready; exec sleep 1000`)))
	m.waitState("web", mesosv1.TaskRunning)
	sandbox := a1.sandboxOf("fw-d", "web")
	eventually(t, 20*time.Second, func() bool {
		b, _ := os.ReadFile(filepath.Join(sandbox, "stdout"))
		return strings.Contains(string(b), "sandbox="+docker.SandboxPath+"\n")
	}, "the task's output did not reach the sandbox")
	eventually(t, 20*time.Second, func() bool {
		_, err := os.Stat(filepath.Join(sandbox, "ready"))
		return err == nil
	}, "the task did not write into its sandbox")
	eventually(t, 10*time.Second, func() bool { return len(m.updatesOf("web")) >= 2 && a1.pendingCount() == 0 }, "updates not acknowledged")
	a1.stop(t)

	a2 := startAgent(t, cfg, nil)
	got := map[string]string{}
	for _, tk := range m.lastSubscribe().Tasks {
		got[tk.Info.TaskID.Value] = tk.State
	}
	if got["web"] != mesosv1.TaskRunning {
		t.Fatalf("after restart the task is %q, want TASK_RUNNING", got["web"])
	}
	m.send(killEvent("fw-d", "web", time.Second))
	u := m.waitState("web", mesosv1.TaskKilled)
	if !strings.Contains(u.Status.Message, "signal 15") {
		t.Errorf("kill message %q, want killed by SIGTERM", u.Status.Message)
	}
	eventually(t, 20*time.Second, func() bool {
		left, err := dockertest.Containers(cli, docker.LabelOwner, cfg.WorkDir)
		return err == nil && len(left) == 0
	}, "the killed task's container was not removed")
	_ = a2
}

// TestDockerUnreachable: with the daemon gone, the agent starts, does not
// advertise docker, and fails DOCKER tasks with a message naming the cause.
func TestDockerUnreachable(t *testing.T) {
	m := newFakeMaster(t)
	cfg := dockerConfig(t, m, nil)
	a := startAgent(t, cfg, nil)
	if sub := m.lastSubscribe(); slices.Contains(sub.Runtimes, "docker") || !slices.Contains(sub.Runtimes, "posix") {
		t.Errorf("runtimes advertised %v, want posix only", sub.Runtimes)
	}
	st := a.state()
	i := slices.IndexFunc(st.Runtimes, func(r containerizer.RuntimeInfo) bool { return r.Name == "docker" })
	if i < 0 || st.Runtimes[i].Available || !strings.Contains(st.Runtimes[i].Message, "unreachable") {
		t.Errorf("/state runtimes %+v, want docker unavailable with a reason", st.Runtimes)
	}
	m.send(launchEvent(testFramework("fw-u"), dockerTask("t", "busybox", "true")))
	u := m.waitState("t", mesosv1.TaskFailed)
	if u.Status.Reason != mesosv1.ReasonContainerLaunchFailed || !strings.Contains(u.Status.Message, "Docker daemon at unix://") {
		t.Errorf("update %+v, want a launch failure naming the daemon", u.Status)
	}
	// The agent still runs other tasks.
	m.send(launchEvent(testFramework("fw-u"), shellTask("p", "exit 0")))
	m.waitState("p", mesosv1.TaskFinished)
}

// BenchmarkLaunchToRunningDocker measures LAUNCH → TASK_RUNNING at the
// master for a DOCKER task with a cached image, one at a time. Needs a
// Docker daemon; run with -benchtime=30x.
func BenchmarkLaunchToRunningDocker(b *testing.B) {
	cli := dockertest.Client(b)
	img := dockertest.Image(b, cli)
	m := newFakeMaster(b)
	startAgent(b, dockerConfig(b, m, cli), nil)
	benchLaunchToRunning(b, m, func(id string) mesosv1.TaskInfo { return dockerTask(id, img, "exec sleep 1000") })
}

// BenchmarkConcurrentLaunchesDocker launches 100 DOCKER tasks in one LAUNCH
// on one agent and reports how many reach TASK_RUNNING per second.
func BenchmarkConcurrentLaunchesDocker(b *testing.B) {
	const n = 100
	cli := dockertest.Client(b)
	img := dockertest.Image(b, cli)
	m := newFakeMaster(b)
	startAgent(b, dockerConfig(b, m, cli), nil)
	fw := testFramework("bench")
	var total time.Duration
	for r := 0; b.Loop(); r++ {
		tasks := make([]mesosv1.TaskInfo, n)
		for i := range tasks {
			tasks[i] = dockerTask("c-"+strconv.Itoa(r)+"-"+strconv.Itoa(i), img, "exec sleep 1000")
		}
		start := time.Now()
		m.send(launchEvent(fw, tasks...))
		m.waitAll(b, tasks, mesosv1.TaskRunning)
		total += time.Since(start)
		b.StopTimer()
		for _, ti := range tasks {
			m.send(killEvent("bench", ti.TaskID.Value, 0))
		}
		m.waitAll(b, tasks, mesosv1.TaskKilled)
		b.StartTimer()
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "tasks/s")
}

// pendingCount is how many status updates await acknowledgement.
func (a *Agent) pendingCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, fw := range a.frameworks {
		for _, t := range fw.tasks {
			n += len(t.rec.Pending)
		}
	}
	return n
}
