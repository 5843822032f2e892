package allocator

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// A property test: random operation sequences against a model that tracks
// what each framework holds with plain mesosv1 arithmetic. Every offer must
// be within the agent's free resources in the model (so nothing is offered
// twice and nothing beyond the total), must go to an eligible framework and
// role, and after every operation the allocator's holdings and free pools
// must equal the model's (so Recover restores exactly).

type heldKey struct{ fw, agent, role string }

type modelFramework struct {
	roles      []string
	gpu        bool
	active     bool
	suppressed map[string]bool
}

type model struct {
	total  map[string]mesosv1.Resources
	active map[string]bool
	fws    map[string]*modelFramework
	held   map[heldKey]mesosv1.Resources
	offers []Offer // everything ever offered, for Recover to pick from
}

func (m *model) free(agentID string) mesosv1.Resources {
	var held mesosv1.Resources
	for k, r := range m.held {
		if k.agent == agentID {
			held = held.Plus(r)
		}
	}
	return m.total[agentID].Minus(held)
}

// byteSource turns fuzz input into choices; it yields zeros when exhausted.
type byteSource struct {
	b []byte
	i int
}

func (s *byteSource) next(n int) int {
	if s.i >= len(s.b) {
		return 0
	}
	v := int(s.b[s.i])
	s.i++
	return v % n
}

func (s *byteSource) done() bool { return s.i >= len(s.b) }

func runOperations(t *testing.T, ops []byte) {
	agentTotals := []string{
		"cpus:4;mem:1024;disk:100;ports:[31000-31009]",
		"cpus:2;mem:512;cpus(a):1;mem(a):256;ports(a):[40-49]",
		"cpus:8;mem:4096;gpus:1",
		"cpus:1;mem:64;bugs:{x,y};disk(b):50",
		"cpus:0.5;mem:128;ports:[1-3,5-7]",
	}
	roleChoices := [][]string{{"*"}, {"a"}, {"b"}, {"a", "b"}, {"*", "a"}}
	heldChoices := []string{"cpus:1;mem:100", "cpus:0.5;ports:[31000-31004]", "cpus(a):1", "bugs:{x}", "disk(b):20;mem:10"}
	agentIDs := []string{"a0", "a1", "a2", "a3"}
	fwIDs := []string{"f0", "f1", "f2"}

	cfg := testConfig()
	a := New(cfg)
	m := &model{total: map[string]mesosv1.Resources{}, active: map[string]bool{}, fws: map[string]*modelFramework{}, held: map[heldKey]mesosv1.Resources{}}
	now := t0()
	src := &byteSource{b: ops}
	var log []string

	checkOffer := func(o Offer) {
		t.Helper()
		fw := m.fws[o.FrameworkID]
		switch {
		case fw == nil || !fw.active:
			t.Fatalf("offer to inactive/unknown framework: %s\n%v", offerKey(o), log)
		case !slices.Contains(fw.roles, o.Role) || fw.suppressed[o.Role]:
			t.Fatalf("offer for unsubscribed/suppressed role: %s\n%v", offerKey(o), log)
		case !m.active[o.AgentID]:
			t.Fatalf("offer of inactive/unknown agent: %s\n%v", offerKey(o), log)
		case cfg.FilterGPUs && !fw.gpu && m.total[o.AgentID].ScalarSum(mesosv1.ResGPUs) > 0:
			t.Fatalf("GPU agent offered to non-GPU framework: %s\n%v", offerKey(o), log)
		}
		checkAllocInfo(t, []Offer{o})
		plain := o.Resources.Allocate("")
		if free := m.free(o.AgentID); !free.Contains(plain) {
			t.Fatalf("offer %s exceeds free %s\n%v", offerKey(o), free, log)
		}
		k := heldKey{o.FrameworkID, o.AgentID, o.Role}
		m.held[k] = m.held[k].Plus(plain)
		m.offers = append(m.offers, o)
	}

	for step := 0; !src.done() && step < 400; step++ {
		ag := agentIDs[src.next(len(agentIDs))]
		fwID := fwIDs[src.next(len(fwIDs))]
		switch op := src.next(15); op {
		case 0, 1: // add (or re-add) an agent
			total := rs(t, agentTotals[src.next(len(agentTotals))])
			a.AddAgent(ag, total)
			m.total[ag], m.active[ag] = total, true
			log = append(log, fmt.Sprintf("AddAgent(%s, %s)", ag, total))
		case 2:
			a.RemoveAgent(ag)
			delete(m.total, ag)
			delete(m.active, ag)
			for k := range m.held {
				if k.agent == ag {
					delete(m.held, k)
				}
			}
			log = append(log, "RemoveAgent("+ag+")")
		case 3:
			on := src.next(2) == 0
			a.SetAgentActive(ag, on)
			if _, ok := m.total[ag]; ok {
				m.active[ag] = on
			}
			log = append(log, fmt.Sprintf("SetAgentActive(%s, %v)", ag, on))
		case 4:
			total := rs(t, agentTotals[src.next(len(agentTotals))])
			if _, ok := m.total[ag]; !ok {
				m.active[ag] = true
			}
			a.UpdateAgent(ag, total)
			m.total[ag] = total
			log = append(log, fmt.Sprintf("UpdateAgent(%s, %s)", ag, total))
		case 5, 6: // add or update a framework
			roles := roleChoices[src.next(len(roleChoices))]
			gpu := src.next(2) == 0
			var sup []string
			if src.next(3) == 0 {
				sup = roles[:1]
			}
			fw := m.fws[fwID]
			if op == 5 || fw == nil {
				a.AddFramework(fwID, roles, gpu, sup)
				if fw == nil {
					fw = &modelFramework{}
					m.fws[fwID] = fw
				}
				fw.active = true
			} else {
				a.UpdateFramework(fwID, roles, gpu, sup)
			}
			fw.roles, fw.gpu, fw.suppressed = roles, gpu, map[string]bool{}
			for _, r := range sup {
				fw.suppressed[r] = true
			}
			log = append(log, fmt.Sprintf("AddFramework/Update(%s, %v, gpu=%v, sup=%v)", fwID, roles, gpu, sup))
		case 7:
			a.RemoveFramework(fwID)
			delete(m.fws, fwID)
			for k := range m.held {
				if k.fw == fwID {
					delete(m.held, k)
				}
			}
			log = append(log, "RemoveFramework("+fwID+")")
		case 8:
			on := src.next(2) == 0
			a.SetFrameworkActive(fwID, on)
			if fw := m.fws[fwID]; fw != nil {
				fw.active = on
			}
			log = append(log, fmt.Sprintf("SetFrameworkActive(%s, %v)", fwID, on))
		case 9: // suppress or revive
			var roles []string
			if r := src.next(3); r > 0 {
				roles = []string{[]string{"a", "*"}[r-1]}
			}
			suppress := src.next(2) == 0
			if suppress {
				a.Suppress(fwID, roles)
			} else {
				a.Revive(fwID, roles)
			}
			if fw := m.fws[fwID]; fw != nil {
				for _, r := range fw.roles {
					if len(roles) == 0 || slices.Contains(roles, r) {
						fw.suppressed[r] = suppress
					}
				}
			}
			log = append(log, fmt.Sprintf("Suppress=%v(%s, %v)", suppress, fwID, roles))
		case 10, 11: // allocate
			var offers []Offer
			visited := agentIDs
			if op == 10 {
				offers = a.Allocate(now)
			} else {
				visited = []string{ag, agentIDs[src.next(len(agentIDs))]}
				offers = a.AllocateAgents(now, visited)
			}
			for _, o := range offers {
				checkOffer(o)
			}
			checkNothingLeft(t, a, now, visited)
			log = append(log, fmt.Sprintf("Allocate -> %v", offerKeys(offers)))
		case 12: // recover an earlier offer, whole or in part
			if len(m.offers) == 0 {
				continue
			}
			o := m.offers[src.next(len(m.offers))]
			res := o.Resources
			if src.next(2) == 0 {
				name := []string{"cpus", "mem", "ports", "bugs", "disk"}[src.next(5)]
				res = res.Filter(func(r mesosv1.Resource) bool { return r.Name == name })
			}
			refuse := []time.Duration{0, 5 * time.Second, time.Hour}[src.next(3)]
			a.Recover(o.FrameworkID, o.AgentID, res, refuse, now)
			k := heldKey{o.FrameworkID, o.AgentID, o.Role}
			if h, ok := m.held[k]; ok {
				m.held[k] = h.Minus(res.Allocate(""))
			}
			log = append(log, fmt.Sprintf("Recover(%s, %s, %s, %v)", o.FrameworkID, o.AgentID, res, refuse))
		case 13: // tasks reported by an agent
			role := roleChoices[src.next(len(roleChoices))][0]
			res := rs(t, heldChoices[src.next(len(heldChoices))])
			a.AddAllocated(fwID, ag, res.Allocate(role))
			if _, ok := m.total[ag]; ok {
				got := res.Minus(res.Minus(m.free(ag)))
				if !got.IsEmpty() {
					k := heldKey{fwID, ag, role}
					m.held[k] = m.held[k].Plus(got)
				}
				if m.fws[fwID] == nil {
					m.fws[fwID] = &modelFramework{suppressed: map[string]bool{}}
				}
			}
			log = append(log, fmt.Sprintf("AddAllocated(%s, %s, %s/%s)", fwID, ag, res, role))
		case 14:
			now = now.Add(time.Duration(1+src.next(10)) * time.Second)
			if src.next(4) == 0 {
				a.SetWeights(map[string]float64{"a": float64(1 + src.next(4)), "*": 0.5})
			}
		}
		checkInvariants(t, a)
		if t.Failed() {
			t.Fatalf("after %v", log)
		}
		compareModel(t, a, m, log)
	}
}

func compareModel(t *testing.T, a *Allocator, m *model, log []string) {
	t.Helper()
	want := map[heldKey]mesosv1.Resources{}
	for k, r := range m.held {
		if !r.IsEmpty() {
			want[k] = r
		}
	}
	got := map[heldKey]mesosv1.Resources{}
	for id, ag := range a.agents {
		for _, al := range ag.allocs {
			got[heldKey{al.m.fw.id, id, al.m.role.name}] = bundleRes(ag, al.b)
		}
		if free, wantFree := bundleRes(ag, ag.free), m.free(id); !free.Equal(wantFree) {
			t.Fatalf("agent %s free %s, model %s\n%v", id, free, wantFree, log)
		}
	}
	keys := func(mm map[heldKey]mesosv1.Resources) []string {
		var out []string
		for k, r := range mm {
			out = append(out, fmt.Sprintf("%v=%s", k, r.Normalize()))
		}
		sort.Strings(out)
		return out
	}
	if len(got) != len(want) {
		t.Fatalf("holdings %v, model %v\n%v", keys(got), keys(want), log)
	}
	for k, w := range want {
		if g, ok := got[k]; !ok || !g.Equal(w) {
			t.Fatalf("holdings %v, model %v\n%v", keys(got), keys(want), log)
		}
	}
	if len(m.total) != len(a.agents) {
		t.Fatalf("%d agents, model %d", len(a.agents), len(m.total))
	}
}

func TestRandomOperations(t *testing.T) {
	n := 300
	if testing.Short() {
		n = 30
	}
	for seed := range n {
		r := rand.New(rand.NewPCG(uint64(seed), 7))
		ops := make([]byte, 600)
		for i := range ops {
			ops[i] = byte(r.Uint32())
		}
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runOperations(t, ops) })
	}
}

func FuzzOperations(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0, 0, 5, 1, 0, 0, 0, 0, 10, 0, 0, 12, 0, 0, 1, 10})
	f.Add([]byte{1, 1, 0, 1, 2, 5, 3, 0, 0, 1, 1, 10, 0, 0, 12, 0, 1, 2, 1, 1, 10, 2, 2, 13, 1, 2})
	f.Add([]byte("the quick brown fox jumps over the lazy allocator, twice, and again"))
	f.Fuzz(func(t *testing.T, ops []byte) {
		runOperations(t, ops)
	})
}
