package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/basalt-dcos/basalt/internal/containerizer/image/imagetest"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// imageAgentConfig is an isolating test agent that may pull from reg.
func imageAgentConfig(t testing.TB, m *fakeMaster, reg *imagetest.Registry) Config {
	cfg := isolatedConfig(t, m)
	cfg.Isolation.CgroupsRoot = testCgroupsRoot(t)
	cfg.Images.Insecure = []string{reg.Host}
	cfg.Images.Timeout = 5 * time.Second
	return cfg
}

func imageTask(id, img, cmd string) mesosv1.TaskInfo {
	t := shellTask(id, cmd)
	t.Container = &mesosv1.ContainerInfo{Type: "MESOS", Mesos: &mesosv1.MesosInfo{
		Image: &mesosv1.Image{Type: "DOCKER", Docker: &mesosv1.DockerImage{Name: img}}}}
	return t
}

// TestImageTask: a MESOS task with an image runs in it with the image's
// PATH (not the agent's) and MESOS_SANDBOX at /mnt/mesos/sandbox, its output
// in the sandbox; an unknown image fails the task at once with a message,
// and the agent runs the next task.
func TestImageTask(t *testing.T) {
	requireIsolation(t)
	reg := imagetest.StartRegistry(t)
	ref := reg.Push(t, "app:1", imagetest.ShellImage(t, imagetest.Tasksh(t), v1.Config{Env: []string{"PATH=/bin"}}))
	m := newFakeMaster(t)
	a := startAgent(t, imageAgentConfig(t, m, reg), nil)
	fw := testFramework("fw-img")

	m.send(launchEvent(fw, imageTask("bad", reg.Host+"/nope:1", "true")))
	u := m.waitState("bad", mesosv1.TaskFailed)
	if u.Status.Reason != mesosv1.ReasonContainerLaunchFailed || !strings.Contains(u.Status.Message, "is not in registry") {
		t.Errorf("unknown image: %s %q", u.Status.Reason, u.Status.Message)
	}

	m.send(launchEvent(fw, imageTask("ok", ref, `echo "sandbox=$MESOS_SANDBOX path=$PATH"; exec sleep 1000`)))
	m.waitState("ok", mesosv1.TaskRunning)
	stdout := filepath.Join(a.sandboxOf("fw-img", "ok"), "stdout")
	want := "sandbox=/mnt/mesos/sandbox path=/bin\n"
	eventually(t, 20*time.Second, func() bool {
		b, _ := os.ReadFile(stdout)
		return string(b) == want
	}, "the task's stdout is not "+want)
	m.send(killEvent("fw-img", "ok", 0))
	m.waitState("ok", mesosv1.TaskKilled)
}

// BenchmarkLaunchToRunningMesosImage is BenchmarkLaunchToRunningMesos with
// the task in a cached image (pulled by a first task before timing). Run
// with -benchtime=50x.
func BenchmarkLaunchToRunningMesosImage(b *testing.B) {
	requireIsolation(b)
	reg := imagetest.StartRegistry(b)
	ref := reg.Push(b, "app:1", imagetest.ShellImage(b, imagetest.Tasksh(b), v1.Config{Env: []string{"PATH=/bin"}}))
	m := newFakeMaster(b)
	startAgent(b, imageAgentConfig(b, m, reg), nil)
	m.send(launchEvent(testFramework("warmup"), imageTask("warmup", ref, "true")))
	m.waitState("warmup", mesosv1.TaskFinished)
	before := reg.Requests.Load()
	benchLaunchToRunning(b, m, func(id string) mesosv1.TaskInfo { return imageTask(id, ref, "sleep 1000") })
	if n := reg.Requests.Load() - before; n != 0 {
		b.Errorf("launches of a cached image made %d registry requests", n)
	}
}
