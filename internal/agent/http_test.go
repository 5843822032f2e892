package agent

import (
	"encoding/json"
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-dcos/basalt/internal/containerizer/fake"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestFilesReadsTaskStdout(t *testing.T) {
	m := newFakeMaster(t)
	a := startAgent(t, testConfig(t, m), nil)
	m.send(launchEvent(testFramework("fw-1"), shellTask("talker", "echo line one; echo line two")))
	m.waitState("talker", mesosv1.TaskFinished)
	var st StateResponse
	getJSON(t, a.Agent, "/state", &st)
	dir := st.CompletedFrameworks[0].CompletedExecutors[0].Directory
	for _, p := range []string{dir + "/stdout", "/frameworks/fw-1/executors/talker/runs/latest/stdout"} {
		var got struct {
			Data   string `json:"data"`
			Offset int64  `json:"offset"`
		}
		getJSON(t, a.Agent, "/files/read?offset=0&path="+url.QueryEscape(p), &got)
		if got.Data != "line one\nline two\n" || got.Offset != 0 {
			t.Errorf("/files/read %s = %+v", p, got)
		}
	}
}

func TestHealthCheckFailingKillsTask(t *testing.T) {
	m := newFakeMaster(t)
	rt := fake.NewRuntime()
	a := startAgent(t, fakeConfig(t, m), fakeConts(rt))
	zero, tiny := 0.0, 0.02
	three := uint32(3)
	ti := shellTask("sick", "x")
	ti.HealthCheck = &mesosv1.HealthCheck{
		Type: mesosv1.HealthCheckCommand, Command: &mesosv1.CommandInfo{Value: "exit 1"},
		DelaySeconds: &zero, IntervalSeconds: &tiny, GracePeriodSeconds: &zero, ConsecutiveFailures: &three,
	}
	m.send(launchEvent(testFramework("fw-1"), ti))
	k := m.waitState("sick", mesosv1.TaskKilled)
	if k.Status.Healthy == nil || *k.Status.Healthy {
		t.Errorf("KILLED healthy = %v, want false", k.Status.Healthy)
	}
	var sawUnhealthy bool
	for _, u := range m.updatesOf("sick") {
		if u.Status.State == mesosv1.TaskRunning && u.Status.Healthy != nil && !*u.Status.Healthy &&
			u.Status.Reason == mesosv1.ReasonTaskHealthCheckStatusUpdated {
			sawUnhealthy = true
		}
	}
	if !sawUnhealthy {
		t.Errorf("no unhealthy TASK_RUNNING update: %v", states(m.updatesOf("sick")))
	}
	_ = a
}

// normalizeState replaces what varies between runs with placeholders.
func normalizeState(a *Agent, raw []byte) []byte {
	s := string(raw)
	var st StateResponse
	json.Unmarshal(raw, &st)
	repl := []string{a.cfg.Masters[0], "MASTER_URL", a.cfg.WorkDir, "WORK_DIR", a.endpoint, "ENDPOINT", a.ID(), "AGENT_ID", portOf(a.endpoint), "PORT"}
	for _, fw := range st.Frameworks {
		for _, ex := range fw.Executors {
			repl = append(repl, ex.Container, "CONTAINER_ID")
		}
	}
	s = strings.NewReplacer(repl...).Replace(s)
	var v any
	json.Unmarshal([]byte(s), &v)
	var scrub func(any) any
	scrub = func(x any) any {
		switch x := x.(type) {
		case map[string]any:
			for k, val := range x {
				switch k {
				case "timestamp", "start_time":
					x[k] = 0
				case "version":
					x[k] = "VERSION"
				default:
					x[k] = scrub(val)
				}
			}
		case []any:
			for i := range x {
				x[i] = scrub(x[i])
			}
		}
		return x
	}
	out, _ := json.MarshalIndent(scrub(v), "", "  ")
	return append(out, '\n')
}

func TestStateGolden(t *testing.T) {
	m := newFakeMaster(t)
	rt := fake.NewRuntime()
	cfg := fakeConfig(t, m)
	cfg.Attributes = "rack:r1;level:2"
	cfg.Domain = Domain{Region: "eu-west", Zone: "eu-west-1a"}
	cfg.Resources = "cpus:4;mem:4096;disk:10000;ports:[31000-32000];gpus:0;cpus(ads):1"
	a := startAgent(t, cfg, fakeConts(rt))
	ti := shellTask("web.1", "python -m http.server")
	ti.Name = "web"
	ti.Labels = &mesosv1.Labels{Labels: []mesosv1.Label{{Key: "owner", Value: "team-a"}}}
	ti.Resources = append(ti.Resources, mesosv1.NewRanges("ports", mesosv1.ValueRange{Begin: 31001, End: 31001}))
	ti.Discovery = &mesosv1.DiscoveryInfo{Visibility: "FRAMEWORK", Name: "web",
		Ports: &mesosv1.Ports{Ports: []mesosv1.Port{{Number: 31001, Name: "http", Protocol: "tcp"}}}}
	m.send(launchEvent(testFramework("fw-1", mesosv1.CapTaskKillingState), ti))
	m.waitState("web.1", mesosv1.TaskRunning)
	eventually(t, 10*time.Second, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return len(a.frameworks["fw-1"].tasks["web.1"].rec.Pending) == 0
	}, "updates not acknowledged")

	var raw json.RawMessage
	getJSON(t, a.Agent, "/slave(1)/state", &raw)
	got := normalizeState(a.Agent, raw)
	golden := filepath.Join("testdata", "state.golden.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("/state differs from %s (-want +got):\n%s", golden, diff)
	}

	var metrics map[string]float64
	getJSON(t, a.Agent, "/metrics/snapshot", &metrics)
	for k, v := range map[string]float64{"slave/registered": 1, "slave/tasks_running": 1, "slave/cpus_total": 5, "slave/cpus_used": 0.1, "slave/mem_used": 32} {
		if metrics[k] != v {
			t.Errorf("metrics %s = %v, want %v", k, metrics[k], v)
		}
	}
	var stats []statisticsEntry
	getJSON(t, a.Agent, "/monitor/statistics", &stats)
	if len(stats) != 1 || stats[0].ExecutorID != "web.1" || stats[0].FrameworkID != "fw-1" || stats[0].Statistics.CPUsLimit != 0.1 {
		t.Errorf("statistics = %+v", stats)
	}
	var flags struct {
		Flags map[string]string `json:"flags"`
	}
	getJSON(t, a.Agent, "/flags", &flags)
	if flags.Flags["work_dir"] != cfg.WorkDir {
		t.Errorf("flags work_dir = %q", flags.Flags["work_dir"])
	}
}
