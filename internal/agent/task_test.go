package agent

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-dcos/basalt/internal/agentapi"
	"github.com/basalt-dcos/basalt/internal/containerizer/fake"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

func killEvent(fid, tid string, grace time.Duration) agentapi.Event {
	k := &agentapi.Kill{FrameworkID: fid, TaskID: tid}
	if grace >= 0 {
		k.KillPolicy = &mesosv1.KillPolicy{GracePeriod: &mesosv1.DurationInfo{Nanoseconds: int64(grace)}}
	}
	return agentapi.Event{Type: agentapi.EventKill, Kill: k}
}

func TestKillWithGracePosix(t *testing.T) {
	m := newFakeMaster(t)
	a := startAgent(t, testConfig(t, m), nil)
	// A task that ignores SIGTERM dies by SIGKILL after the grace; one that
	// does not ends at once. TASK_KILLING goes only to frameworks that
	// declared TASK_KILLING_STATE.
	killing := testFramework("fw-k", mesosv1.CapTaskKillingState)
	plain := testFramework("fw-p")
	m.send(launchEvent(killing, shellTask("stubborn", "trap '' TERM; echo ready; while true; do sleep 0.05; done")))
	m.send(launchEvent(plain, shellTask("meek", "sleep 1000")))
	m.waitState("stubborn", mesosv1.TaskRunning)
	m.waitState("meek", mesosv1.TaskRunning)
	// Kill only once the shell has installed its trap.
	stdout := filepath.Join(a.sandboxOf("fw-k", "stubborn"), "stdout")
	eventually(t, 10*time.Second, func() bool {
		b, _ := os.ReadFile(stdout)
		return strings.Contains(string(b), "ready")
	}, "stubborn task never got ready")

	m.send(killEvent("fw-k", "stubborn", 300*time.Millisecond))
	m.send(killEvent("fw-p", "meek", -1))
	k := m.waitState("stubborn", mesosv1.TaskKilled)
	if got := states(m.updatesOf("stubborn")); !cmp.Equal(got, []string{mesosv1.TaskStarting, mesosv1.TaskRunning, mesosv1.TaskKilling, mesosv1.TaskKilled}) {
		t.Errorf("stubborn states = %v", got)
	}
	if k.Status.Message != "Command terminated with signal Killed" {
		t.Errorf("stubborn KILLED message = %q, want SIGKILL after the grace", k.Status.Message)
	}
	mk := m.waitState("meek", mesosv1.TaskKilled)
	if got := states(m.updatesOf("meek")); !cmp.Equal(got, []string{mesosv1.TaskStarting, mesosv1.TaskRunning, mesosv1.TaskKilled}) {
		t.Errorf("meek states = %v", got)
	}
	if mk.Status.Message != "Command terminated with signal Terminated" {
		t.Errorf("meek KILLED message = %q", mk.Status.Message)
	}
}

func TestKillDuringLaunch(t *testing.T) {
	m := newFakeMaster(t)
	rt := fake.NewRuntime()
	startAgent(t, fakeConfig(t, m), fakeConts(rt))
	ti := shellTask("slow", "x")
	ti.Labels = &mesosv1.Labels{Labels: []mesosv1.Label{{Key: fake.LabelStartDelay, Value: "1h"}}}
	m.send(launchEvent(testFramework("fw-1"), ti))
	m.waitState("slow", mesosv1.TaskStarting)
	m.send(killEvent("fw-1", "slow", -1))
	k := m.waitState("slow", mesosv1.TaskKilled)
	if k.Status.Reason != mesosv1.ReasonTaskKilledDuringLaunch {
		t.Errorf("reason = %q", k.Status.Reason)
	}
	if got := states(m.updatesOf("slow")); !cmp.Equal(got, []string{mesosv1.TaskStarting, mesosv1.TaskKilled}) {
		t.Errorf("states = %v", got)
	}
}

func TestLaunchFailures(t *testing.T) {
	m := newFakeMaster(t)
	rt := fake.NewRuntime()
	startAgent(t, fakeConfig(t, m), fakeConts(rt))
	docker := shellTask("docker", "x")
	docker.Container = &mesosv1.ContainerInfo{Type: "DOCKER", Docker: &mesosv1.DockerInfo{Image: "nginx"}}
	secret := shellTask("secret", "x")
	secret.Command.Environment = &mesosv1.Environment{Variables: []mesosv1.EnvVariable{{Name: "PW", Type: "SECRET"}}}
	broken := shellTask("broken", "x")
	broken.Labels = &mesosv1.Labels{Labels: []mesosv1.Label{{Key: fake.LabelFailStart, Value: "true"}}}
	fetch := shellTask("fetch", "x")
	fetch.Command.URIs = []mesosv1.CommandURI{{Value: "/does/not/exist.tgz"}}
	m.send(launchEvent(testFramework("fw-1"), docker, secret, broken, fetch))
	for id, want := range map[string]string{
		"docker": "docker containerizer", "secret": "secret environment variables", "broken": "Failed to launch container",
		"fetch": "Failed to fetch URIs",
	} {
		u := m.waitState(id, mesosv1.TaskFailed)
		if u.Status.Reason != mesosv1.ReasonContainerLaunchFailed || !strings.Contains(u.Status.Message, want) {
			t.Errorf("%s: FAILED %q / %q, want launch failure mentioning %q", id, u.Status.Reason, u.Status.Message, want)
		}
	}
	// LAUNCH_GROUP is refused task by task.
	m.send(agentapi.Event{Type: agentapi.EventLaunchGroup, LaunchGroup: &agentapi.LaunchGroup{
		Framework: testFramework("fw-1"), TaskGroup: mesosv1.TaskGroupInfo{Tasks: []mesosv1.TaskInfo{shellTask("pod-a", "x")}}}})
	if u := m.waitState("pod-a", mesosv1.TaskFailed); !strings.Contains(u.Status.Message, "not supported") {
		t.Errorf("pod task: %q", u.Status.Message)
	}
}

func TestShutdownFrameworkKillsItsTasks(t *testing.T) {
	m := newFakeMaster(t)
	rt := fake.NewRuntime()
	a := startAgent(t, fakeConfig(t, m), fakeConts(rt))
	m.send(launchEvent(testFramework("fw-1"), shellTask("a", "x"), shellTask("b", "x")))
	m.send(launchEvent(testFramework("fw-2"), shellTask("c", "x")))
	m.waitState("a", mesosv1.TaskRunning)
	m.waitState("b", mesosv1.TaskRunning)
	m.waitState("c", mesosv1.TaskRunning)
	m.send(agentapi.Event{Type: agentapi.EventShutdownFramework, ShutdownFramework: &agentapi.ShutdownFramework{FrameworkID: "fw-1"}})
	eventually(t, 10*time.Second, func() bool { return len(rt.Running()) == 1 }, "fw-1 tasks still run: %v", func() []string { return rt.Running() })
	eventually(t, 10*time.Second, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.frameworks["fw-1"] == nil && a.frameworks["fw-2"] != nil
	}, "fw-1 not forgotten")
}

func TestAgentShutdownKillsAllAndRegistersAnew(t *testing.T) {
	m := newFakeMaster(t)
	rt := fake.NewRuntime()
	a := startAgent(t, fakeConfig(t, m), fakeConts(rt))
	old := a.ID()
	m.send(launchEvent(testFramework("fw-1"), shellTask("a", "x")))
	m.waitState("a", mesosv1.TaskRunning)
	m.send(agentapi.Event{Type: agentapi.EventShutdown, Shutdown: &agentapi.Shutdown{Message: "agent gone"}})
	eventually(t, 10*time.Second, func() bool { return a.ID() != "" && a.ID() != old }, "agent did not register anew")
	if sub := m.lastSubscribe(); sub.AgentInfo.ID != nil || len(sub.Tasks) != 0 {
		t.Errorf("new registration carries id %v and %d tasks", sub.AgentInfo.ID, len(sub.Tasks))
	}
	if got := rt.Running(); len(got) != 0 {
		t.Errorf("containers still running: %v", got)
	}
}

func TestTaskEnvironmentPosix(t *testing.T) {
	m := newFakeMaster(t)
	a := startAgent(t, testConfig(t, m), nil)
	ti := shellTask("env", "env")
	ti.Command.Environment = &mesosv1.Environment{Variables: []mesosv1.EnvVariable{{Name: "GREETING", Value: "hi there"}}}
	m.send(launchEvent(testFramework("fw-1"), ti))
	m.waitState("env", mesosv1.TaskFinished)
	var st StateResponse
	getJSON(t, a.Agent, "/state", &st)
	ex := st.CompletedFrameworks[0].CompletedExecutors[0]
	b, err := os.ReadFile(filepath.Join(ex.Directory, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	want := map[string]string{
		"MESOS_SANDBOX":        ex.Directory,
		"MESOS_DIRECTORY":      ex.Directory,
		"MESOS_TASK_ID":        "env",
		"MESOS_EXECUTOR_ID":    "env",
		"MESOS_FRAMEWORK_ID":   "fw-1",
		"MESOS_AGENT_ENDPOINT": a.endpoint,
		"MESOS_SLAVE_ID":       a.ID(),
		"MESOS_SLAVE_PID":      "slave(1)@" + a.endpoint,
		"MESOS_CHECKPOINT":     "1",
		"GREETING":             "hi there",
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	if env["PATH"] == "" {
		t.Error("PATH not set")
	}
	wantDir := filepath.Join(a.cfg.WorkDir, "slaves", a.ID(), "frameworks", "fw-1", "executors", "env", "runs", ex.Container)
	if ex.Directory != wantDir {
		t.Errorf("sandbox = %s, want %s", ex.Directory, wantDir)
	}
	if link, err := os.Readlink(filepath.Join(filepath.Dir(wantDir), "latest")); err != nil || link != ex.Container {
		t.Errorf("runs/latest -> %q, %v", link, err)
	}
}

// archives builds a tar.gz and a zip holding dir/inner.txt.
func archives(t *testing.T) (tgz, zipb []byte) {
	t.Helper()
	var tb bytes.Buffer
	gz := gzip.NewWriter(&tb)
	tw := tar.NewWriter(gz)
	tw.WriteHeader(&tar.Header{Name: "dir/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "dir/inner.txt", Typeflag: tar.TypeReg, Mode: 0o644, Size: 5})
	tw.Write([]byte("inner"))
	tw.Close()
	gz.Close()
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	w, _ := zw.Create("z/zipped.txt")
	w.Write([]byte("zipped"))
	zw.Close()
	return tb.Bytes(), zb.Bytes()
}

func TestFetchHTTPAndFileWithExtraction(t *testing.T) {
	tgz, zipb := archives(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/pkg/app.tar.gz":
			w.Write(tgz)
		case "/tool.sh":
			w.Write([]byte("#!/bin/sh\necho tool\n"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	src := t.TempDir()
	zipPath := filepath.Join(src, "bundle.zip")
	os.WriteFile(zipPath, zipb, 0o644)
	os.WriteFile(filepath.Join(src, "raw.tgz"), tgz, 0o644)

	m := newFakeMaster(t)
	startAgent(t, testConfig(t, m), nil)
	no, yes := false, true
	ti := shellTask("fetcher", "test -f dir/inner.txt && test -f app.tar.gz && test -x tool && ./tool && test -f z/zipped.txt && test -f kept.tgz && ! test -e dir2")
	ti.Command.URIs = []mesosv1.CommandURI{
		{Value: srv.URL + "/pkg/app.tar.gz"},
		{Value: srv.URL + "/tool.sh", Executable: &yes, OutputFile: "tool"},
		{Value: "file://" + zipPath},
		{Value: filepath.Join(src, "raw.tgz"), Extract: &no, OutputFile: "kept.tgz"},
	}
	m.send(launchEvent(testFramework("fw-1"), ti))
	fin := m.waitState("fetcher", mesosv1.TaskFinished)
	_ = fin

	bad := shellTask("fetch404", "true")
	bad.Command.URIs = []mesosv1.CommandURI{{Value: srv.URL + "/missing"}}
	m.send(launchEvent(testFramework("fw-1"), bad))
	u := m.waitState("fetch404", mesosv1.TaskFailed)
	if !strings.Contains(u.Status.Message, "404") {
		t.Errorf("404 fetch message = %q", u.Status.Message)
	}
}

func TestExtractStaysInSandbox(t *testing.T) {
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	tw.WriteHeader(&tar.Header{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "/etc"})
	tw.WriteHeader(&tar.Header{Name: "link/evil", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1})
	tw.Write([]byte("x"))
	tw.Close()
	dir := t.TempDir()
	sb := filepath.Join(dir, "sandbox")
	os.Mkdir(sb, 0o755)
	os.WriteFile(filepath.Join(dir, "evil.tar"), tb.Bytes(), 0o644)
	err := fetchAll(t.Context(), http.DefaultClient, []mesosv1.CommandURI{{Value: filepath.Join(dir, "evil.tar")}}, sb, 0)
	if err == nil {
		t.Fatal("extracting through a symlink out of the sandbox succeeded")
	}
	if _, err := os.Stat("/etc/evil"); err == nil {
		t.Fatal("/etc/evil written")
	}
	for _, name := range []string{"../x", "/abs/../../x", "a/../../x"} {
		if got, err := entryName(name); err == nil && strings.HasPrefix(got, "..") {
			t.Errorf("entryName(%q) = %q", name, got)
		}
	}
}

// sandboxOf returns the sandbox of a live task.
func (a *Agent) sandboxOf(fid, tid string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if fw := a.frameworks[fid]; fw != nil && fw.tasks[tid] != nil {
		return fw.tasks[tid].rec.Sandbox
	}
	return ""
}

func TestTaskRunsAsFrameworkUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("switching users needs root")
	}
	m := newFakeMaster(t)
	cfg := testConfig(t, m)
	// t.TempDir() and its parent are 0700; a real work dir is not.
	for _, d := range []string{cfg.WorkDir, filepath.Dir(cfg.WorkDir)} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	startAgent(t, cfg, nil)
	fw := testFramework("fw-1")
	fw.User = "nobody"
	m.send(launchEvent(fw, shellTask("who", `[ "$(id -un)" = nobody ] && echo ok > mine.txt`)))
	m.waitState("who", mesosv1.TaskFinished)
}

// A root agent never runs a task as root in place of a user it cannot find.
func TestUnknownUserFailsTask(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("switching users needs root")
	}
	m := newFakeMaster(t)
	rt := fake.NewRuntime()
	startAgent(t, fakeConfig(t, m), fakeConts(rt))
	fw := testFramework("fw-1")
	fw.User = "no-such-user-basalt"
	m.send(launchEvent(fw, shellTask("ghost", "id")))
	u := m.waitState("ghost", mesosv1.TaskFailed)
	if u.Status.Reason != mesosv1.ReasonContainerLaunchFailed || !strings.Contains(u.Status.Message, "no-such-user-basalt") {
		t.Errorf("FAILED %q / %q, want a launch failure naming the user", u.Status.Reason, u.Status.Message)
	}
	if n := len(rt.Launches()); n != 0 {
		t.Errorf("%d containers launched for an unknown user", n)
	}
}
