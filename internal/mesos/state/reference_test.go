package state

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
	"github.com/google/go-cmp/cmp"
)

// The reference renderings: the big documents encoded in one go from the
// mesosv1 types. The served documents are assembled from cached pieces
// (assemble.go) and must mean exactly the same JSON.

func refTasks(ts []*Task) []mesosv1.StateTask {
	out := make([]mesosv1.StateTask, len(ts))
	for i, t := range ts {
		out[i] = stateTask(t)
	}
	return out
}

func refFramework(f *Framework) mesosv1.StateFramework {
	sf := stateFramework(f)
	sf.Tasks = refTasks(f.Tasks)
	sf.CompletedTasks = refTasks(f.CompletedTasks)
	sf.UnreachableTasks = refTasks(f.UnreachableTasks)
	return sf
}

func refFrameworks(fs []*Framework, only string) []mesosv1.StateFramework {
	out := []mesosv1.StateFramework{}
	for _, f := range fs {
		if only == "" || frameworkID(f) == only {
			out = append(out, refFramework(f))
		}
	}
	return out
}

func refState(s *Snapshot) *mesosv1.StateResponse {
	resp := stateHead(s)
	resp.Slaves = []mesosv1.StateAgent{}
	for _, a := range s.Agents {
		if registered(a) {
			resp.Slaves = append(resp.Slaves, stateAgent(a, false))
		}
	}
	resp.RecoveredSlaves = []mesosv1.StateAgent{}
	resp.Frameworks = refFrameworks(s.Frameworks, "")
	resp.CompletedFrameworks = refFrameworks(s.CompletedFrameworks, "")
	resp.OrphanTasks = []mesosv1.StateTask{}
	resp.UnregisteredFrameworks = []string{}
	return resp
}

type refSummaryAgent struct {
	mesosv1.StateAgent
	FrameworkIDs []string `json:"framework_ids"`
}

func refSummary(s *Snapshot) any {
	idx := buildIndex(s)
	resp := struct {
		Hostname   string             `json:"hostname"`
		Cluster    string             `json:"cluster,omitempty"`
		Slaves     []refSummaryAgent  `json:"slaves"`
		Frameworks []summaryFramework `json:"frameworks"`
	}{Hostname: s.Self.Hostname, Cluster: s.ClusterName, Slaves: []refSummaryAgent{}, Frameworks: []summaryFramework{}}
	for _, a := range s.Agents {
		if !registered(a) {
			continue
		}
		sa := refSummaryAgent{StateAgent: stateAgent(a, false), FrameworkIDs: emptyIfNil(idx.agentFrameworks[agentID(a)])}
		sa.TaskCounts = taskCounts(idx.agentCounts[agentID(a)])
		resp.Slaves = append(resp.Slaves, sa)
	}
	for _, f := range s.Frameworks {
		id := frameworkID(f)
		resp.Frameworks = append(resp.Frameworks, summaryFramework{
			ID: id, Name: f.Info.Name, UsedResources: f.Used.ToMap(), OfferedResources: f.Offered.ToMap(),
			Capabilities: capabilityNames(f), Hostname: f.Info.Hostname, WebuiURL: f.Info.WebuiURL,
			Active: f.Active, Connected: f.Connected, Recovered: f.Recovered,
			TaskCounts: taskCounts(idx.frameworkCounts[id]), SlaveIDs: emptyIfNil(idx.frameworkAgents[id]),
		})
	}
	return resp
}

// sameJSON compares two JSON documents by meaning.
func sameJSON(t *testing.T, what string, want any, got []byte) {
	t.Helper()
	wantBytes, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var w, g any
	if err := json.Unmarshal(wantBytes, &w); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: served document is not JSON: %v", what, err)
	}
	if diff := cmp.Diff(w, g); diff != "" {
		t.Errorf("%s differs from the reference rendering (-want +got):\n%s", what, diff)
	}
}

func TestAssembledMatchesReference(t *testing.T) {
	for name, s := range map[string]*Snapshot{
		"fixture": fixture(),
		"standby": standbyFixture(),
		"big":     bigSnapshot(7, 60),
		"empty":   {},
	} {
		t.Run(name, func(t *testing.T) {
			mux, _ := newMux(t, s, nil)
			get := func(p string) []byte { return do(t, mux, http.MethodGet, p, "").Body.Bytes() }
			sameJSON(t, "state", refState(s), get("/master/state"))
			sameJSON(t, "state-summary", refSummary(s), get("/master/state-summary"))
			sameJSON(t, "frameworks", &mesosv1.FrameworksResponse{
				Frameworks:             refFrameworks(s.Frameworks, ""),
				CompletedFrameworks:    refFrameworks(s.CompletedFrameworks, ""),
				UnregisteredFrameworks: []string{},
			}, get("/master/frameworks"))
			sameJSON(t, "frameworks?framework_id", &mesosv1.FrameworksResponse{
				Frameworks:             refFrameworks(s.Frameworks, fwMara),
				CompletedFrameworks:    refFrameworks(s.CompletedFrameworks, fwMara),
				UnregisteredFrameworks: []string{},
			}, get("/master/frameworks?framework_id="+fwMara))
			all := slices.Clone(buildIndex(s).tasks)
			slices.SortStableFunc(all, compareTasks)
			want := refTasks(all)
			for i, j := 0, len(want)-1; i < j; i, j = i+1, j-1 {
				want[i], want[j] = want[j], want[i]
			}
			sameJSON(t, "tasks", &mesosv1.TasksResponse{Tasks: want}, get("/master/tasks?limit=100000"))
			rd := &rendering{snap: s}
			for _, typ := range []string{mesosv1.OperatorGetTasks, mesosv1.OperatorGetState} {
				w := operatorCall(t, mux, `{"type":"`+typ+`"}`)
				sameJSON(t, typ, operatorResponse(typ, rd), w.Body.Bytes())
			}
		})
	}
}

// TestReuseAcrossSnapshots checks that a record shared by consecutive
// snapshots is encoded once, and that a changed record is re-encoded.
func TestReuseAcrossSnapshots(t *testing.T) {
	s1 := fixture()
	src := newSource(s1)
	api := NewAPI(src, nil, nil)
	mux := http.NewServeMux()
	api.Register(mux)
	do(t, mux, http.MethodGet, "/master/state", "")
	m1 := api.lastTasks.Load()
	web := s1.Frameworks[0].Tasks[1]

	// The next snapshot shares every record but replaces the web task.
	s2 := *s1
	s2.Built = s1.Built.Add(1)
	fw := *s1.Frameworks[0]
	newWeb := *web
	newWeb.State = mesosv1.TaskKilling
	fw.Tasks = []*Task{fw.Tasks[0], &newWeb}
	s2.Frameworks = []*Framework{&fw, s1.Frameworks[1]}
	src.p.Store(&s2)
	body := do(t, mux, http.MethodGet, "/master/state", "").Body.Bytes()
	m2 := api.lastTasks.Load()

	api0 := s1.Frameworks[0].Tasks[0]
	if b1, b2 := m1.m[api0], m2.m[api0]; len(b1) == 0 || &b1[0] != &b2[0] {
		t.Error("an unchanged task was encoded again")
	}
	if _, ok := m2.m[web]; ok {
		t.Error("the replaced task is still memoized")
	}
	sameJSON(t, "state after a change", refState(&s2), body)
}
