package match

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-dcos/basalt/pkg/marathon"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

var dcosCfg = Config{DefaultAcceptedResourceRoles: []string{"*"}, MesosRole: "slave_public", MesosUser: "root"}

// testApp is a normalised app: 1 cpu, 128 MB, one dynamic host port.
func testApp() marathon.App {
	return marathon.App{
		ID:              "/group/app",
		Cmd:             ptr("sleep 100"),
		Instances:       1,
		Cpus:            1,
		Mem:             128,
		Env:             map[string]marathon.EnvValue{},
		Labels:          map[string]string{},
		Constraints:     [][]string{},
		Fetch:           []marathon.Fetch{},
		HealthChecks:    []marathon.HealthCheck{},
		PortDefinitions: []marathon.PortDefinition{{Port: 10000, Protocol: "tcp", Name: "default"}},
		Networks:        []marathon.Network{{Mode: "host"}},
		Version:         "2024-01-02T03:04:05.000Z",
	}
}

// testOffer builds an offer from agent --resources and --attributes text,
// allocated to role "*" as Mesos offers to a "*" framework are.
func testOffer(t testing.TB, resources, attributes string) mesosv1.Offer {
	t.Helper()
	rs, err := mesosv1.ParseResources(resources, "")
	if err != nil {
		t.Fatalf("ParseResources(%q): %v", resources, err)
	}
	attrs, err := mesosv1.ParseAttributes(attributes)
	if err != nil {
		t.Fatalf("ParseAttributes(%q): %v", attributes, err)
	}
	return mesosv1.Offer{
		ID:             mesosv1.ID{Value: "o1"},
		AgentID:        mesosv1.ID{Value: "a1"},
		Hostname:       "host-1",
		Resources:      rs.Allocate("*"),
		Attributes:     attrs,
		AllocationInfo: &mesosv1.AllocationInfo{Role: "*"},
	}
}

const plentiful = "cpus:4;mem:4096;disk:1000;gpus:1;ports:[31000-31009]"

func TestMatchResources(t *testing.T) {
	res := func(text string) []mesosv1.Resource {
		rs, err := mesosv1.ParseResources(text, "")
		if err != nil {
			t.Fatal(err)
		}
		return rs.Allocate("*")
	}
	tests := []struct {
		name        string
		edit        func(*marathon.App)
		offer       string
		want        []string // reasons; nil means matched
		wantRes     []mesosv1.Resource
		wantPorts   []int
		wantReasons []string
	}{
		{
			name:      "fits",
			offer:     plentiful,
			wantRes:   res("cpus:1;mem:128;ports:[31000-31000]"),
			wantPorts: []int{31000},
		},
		{
			name:      "disk and gpus taken",
			edit:      func(a *marathon.App) { a.Disk = 100; a.Gpus = 1 },
			offer:     plentiful,
			wantRes:   res("cpus:1;mem:128;disk:100;gpus:1;ports:[31000-31000]"),
			wantPorts: []int{31000},
		},
		{
			name:        "every short dimension is reported",
			edit:        func(a *marathon.App) { a.Cpus = 8; a.Mem = 8192; a.Disk = 2000; a.Gpus = 2 },
			offer:       plentiful,
			wantReasons: []string{ReasonInsufficientCpus, ReasonInsufficientMemory, ReasonInsufficientDisk, ReasonInsufficientGpus},
		},
		{
			name:        "no ports offered",
			offer:       "cpus:4;mem:4096",
			wantReasons: []string{ReasonInsufficientPorts},
		},
		{
			name:      "no ports needed",
			edit:      func(a *marathon.App) { a.PortDefinitions = []marathon.PortDefinition{} },
			offer:     "cpus:4;mem:4096",
			wantRes:   res("cpus:1;mem:128"),
			wantPorts: []int{},
		},
		{
			name: "dynamic ports take the lowest free",
			edit: func(a *marathon.App) {
				a.PortDefinitions = []marathon.PortDefinition{{Port: 10000}, {Port: 10001}, {Port: 10002}}
			},
			offer:     "cpus:4;mem:4096;ports:[31005-31006,31000-31000]",
			wantRes:   res("cpus:1;mem:128;ports:[31000-31000,31005-31006]"),
			wantPorts: []int{31000, 31005, 31006},
		},
		{
			name: "insufficient dynamic ports",
			edit: func(a *marathon.App) {
				a.PortDefinitions = []marathon.PortDefinition{{Port: 10000}, {Port: 10001}, {Port: 10002}}
			},
			offer:       "cpus:4;mem:4096;ports:[31000-31001]",
			wantReasons: []string{ReasonInsufficientPorts},
		},
		{
			name: "requirePorts takes the literal port",
			edit: func(a *marathon.App) {
				a.RequirePorts = true
				a.PortDefinitions = []marathon.PortDefinition{{Port: 31007}, {Port: 0}}
			},
			offer:     plentiful,
			wantRes:   res("cpus:1;mem:128;ports:[31000-31000,31007-31007]"),
			wantPorts: []int{31007, 31000},
		},
		{
			name: "requirePorts with the port not offered",
			edit: func(a *marathon.App) {
				a.RequirePorts = true
				a.PortDefinitions = []marathon.PortDefinition{{Port: 80}}
			},
			offer:       plentiful,
			wantReasons: []string{ReasonInsufficientPorts},
		},
		{
			name: "without requirePorts the port is a service port",
			edit: func(a *marathon.App) {
				a.PortDefinitions = []marathon.PortDefinition{{Port: 80}}
			},
			offer:     plentiful,
			wantRes:   res("cpus:1;mem:128;ports:[31000-31000]"),
			wantPorts: []int{31000},
		},
		{
			name: "bridge mappings: none, dynamic and literal host ports",
			edit: func(a *marathon.App) {
				a.Networks = []marathon.Network{{Mode: "container/bridge"}}
				a.PortDefinitions = []marathon.PortDefinition{}
				a.Container = &marathon.Container{Type: "DOCKER", Docker: &marathon.Docker{Image: "nginx"}, PortMappings: []marathon.PortMapping{
					{ContainerPort: 80, HostPort: ptr(0)},
					{ContainerPort: 81},
					{ContainerPort: 82, HostPort: ptr(31000)},
				}}
			},
			offer:     plentiful,
			wantRes:   res("cpus:1;mem:128;ports:[31000-31001]"),
			wantPorts: []int{31001, 0, 31000},
		},
		{
			name: "duplicate literal host ports cannot both be taken",
			edit: func(a *marathon.App) {
				a.Networks = []marathon.Network{{Mode: "container", Name: "dcos"}}
				a.PortDefinitions = []marathon.PortDefinition{}
				a.Container = &marathon.Container{Type: "MESOS", PortMappings: []marathon.PortMapping{
					{ContainerPort: 80, HostPort: ptr(31000)},
					{ContainerPort: 81, HostPort: ptr(31000)},
				}}
			},
			offer:       plentiful,
			wantReasons: []string{ReasonInsufficientPorts},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := testApp()
			if tt.edit != nil {
				tt.edit(&app)
			}
			got := Match(app, testOffer(t, tt.offer, ""), nil, dcosCfg)
			if tt.wantReasons != nil {
				if got.Matched {
					t.Fatalf("Match() matched, want reasons %v", tt.wantReasons)
				}
				if diff := cmp.Diff(tt.wantReasons, got.Reasons); diff != "" {
					t.Errorf("reasons (-want +got):\n%s", diff)
				}
				return
			}
			if !got.Matched {
				t.Fatalf("Match() did not match: %v", got.Reasons)
			}
			if diff := cmp.Diff(tt.wantRes, got.Resources); diff != "" {
				t.Errorf("resources (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantPorts, got.HostPorts); diff != "" {
				t.Errorf("host ports (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMatchRoles(t *testing.T) {
	public := "cpus(slave_public):4;mem(slave_public):4096;ports(slave_public):[80-80,443-443]"
	tests := []struct {
		name     string
		accepted []string
		cfg      Config
		offer    string
		want     []string // reasons
		wantRes  string   // resources taken, --resources text form
	}{
		{name: "public resources refused by default", cfg: dcosCfg, offer: public, want: []string{ReasonUnfulfilledRole}},
		{name: "no default roles means unreserved only", offer: public, want: []string{ReasonUnfulfilledRole}},
		{name: "public resources with slave_public accepted", accepted: []string{"slave_public"}, cfg: dcosCfg, offer: public,
			wantRes: "cpus(slave_public):1;mem(slave_public):128;ports(slave_public):[80-80]"},
		{name: "slave_public only refuses unreserved", accepted: []string{"slave_public"}, cfg: dcosCfg, offer: plentiful,
			want: []string{ReasonUnfulfilledRole}},
		{name: "role lacking plus real shortage", accepted: []string{"slave_public"}, cfg: dcosCfg,
			offer: "cpus(slave_public):0.5;cpus:4;mem(slave_public):64",
			want:  []string{ReasonUnfulfilledRole, ReasonInsufficientMemory, ReasonInsufficientPorts}},
		{name: "reserved taken before unreserved", accepted: []string{"*", "ads"}, cfg: dcosCfg,
			offer:   "cpus:4;cpus(ads):0.25;mem:4096;mem(ads):1000;ports:[31000-31001];ports(ads):[5000-5000]",
			wantRes: "cpus:0.75;cpus(ads):0.25;mem(ads):128;ports(ads):[5000-5000]"},
		{name: "default roles from the config", cfg: Config{DefaultAcceptedResourceRoles: []string{"slave_public"}}, offer: public,
			wantRes: "cpus(slave_public):1;mem(slave_public):128;ports(slave_public):[80-80]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := testApp()
			app.AcceptedResourceRoles = tt.accepted
			got := Match(app, testOffer(t, tt.offer, ""), nil, tt.cfg)
			if tt.want != nil {
				if diff := cmp.Diff(Result{Reasons: tt.want}, got); diff != "" {
					t.Errorf("Match() (-want +got):\n%s", diff)
				}
				return
			}
			if !got.Matched {
				t.Fatalf("Match() did not match: %v", got.Reasons)
			}
			if s := mesosv1.Resources(got.Resources).String(); s != tt.wantRes {
				t.Errorf("resources = %s, want %s", s, tt.wantRes)
			}
			for _, r := range got.Resources {
				if r.AllocationInfo == nil || r.AllocationInfo.Role != "*" {
					t.Errorf("resource %s lost its allocation_info: %+v", r.Name, r.AllocationInfo)
				}
			}
		})
	}
}

func TestMatchKeepsReservations(t *testing.T) {
	offer := testOffer(t, "cpus(slave_public):4;mem(slave_public):4096;ports(slave_public):[80-80]", "")
	app := testApp()
	app.AcceptedResourceRoles = []string{"slave_public"}
	got := Match(app, offer, nil, dcosCfg)
	if !got.Matched {
		t.Fatalf("Match() did not match: %v", got.Reasons)
	}
	want := []mesosv1.ReservationInfo{{Type: "STATIC", Role: "slave_public"}}
	for _, r := range got.Resources {
		if diff := cmp.Diff(want, r.Reservations); diff != "" {
			t.Errorf("%s reservations (-want +got):\n%s", r.Name, diff)
		}
	}
	// The result must not alias the offer.
	got.Resources[0].Reservations[0].Role = "changed"
	if offer.Resources[0].Reservations[0].Role != "slave_public" {
		t.Error("changing the result changed the offer")
	}
}

func TestMatchFillsOfferAllocationInfo(t *testing.T) {
	rs, err := mesosv1.ParseResources("cpus:2;mem:256;ports:[31000-31000]", "")
	if err != nil {
		t.Fatal(err)
	}
	offer := mesosv1.Offer{Hostname: "h", Resources: rs, AllocationInfo: &mesosv1.AllocationInfo{Role: "marathon"}}
	got := Match(testApp(), offer, nil, dcosCfg)
	if !got.Matched {
		t.Fatalf("Match() did not match: %v", got.Reasons)
	}
	for _, r := range got.Resources {
		if r.AllocationInfo == nil || r.AllocationInfo.Role != "marathon" {
			t.Errorf("%s allocation_info = %+v, want role marathon", r.Name, r.AllocationInfo)
		}
	}
}

// TestMatchConsumesOneOffer launches instances one after another from one
// offer, subtracting each match, as the scheduler does.
func TestMatchConsumesOneOffer(t *testing.T) {
	offer := testOffer(t, "cpus:2.5;mem:1024;ports:[31000-31001,31005-31005]", "")
	app := testApp()
	var ports []int
	for i := range 2 {
		got := Match(app, offer, nil, dcosCfg)
		if !got.Matched {
			t.Fatalf("instance %d: no match: %v", i, got.Reasons)
		}
		ports = append(ports, got.HostPorts...)
		offer.Resources = mesosv1.Resources(offer.Resources).Minus(got.Resources)
	}
	if diff := cmp.Diff([]int{31000, 31001}, ports); diff != "" {
		t.Errorf("ports (-want +got):\n%s", diff)
	}
	if s := mesosv1.Resources(offer.Resources).String(); s != "cpus:0.5;mem:768;ports:[31005-31005]" {
		t.Errorf("left of the offer = %s", s)
	}
	got := Match(app, offer, nil, dcosCfg)
	if diff := cmp.Diff([]string{ReasonInsufficientCpus}, got.Reasons); diff != "" {
		t.Errorf("third instance reasons (-want +got):\n%s", diff)
	}
}

// on is a placement on host with agent attributes text.
func on(t testing.TB, host, attributes string) Placement {
	t.Helper()
	attrs, err := mesosv1.ParseAttributes(attributes)
	if err != nil {
		t.Fatal(err)
	}
	return Placement{AgentID: "agent-" + host, Hostname: host, Attributes: attrs}
}

func TestMatchConstraints(t *testing.T) {
	type offerOn struct{ host, attrs, region, zone string }
	tests := []struct {
		name       string
		constraint []string
		offer      offerOn
		placed     []Placement
		want       bool
	}{
		// UNIQUE
		{"unique hostname first", []string{"hostname", "UNIQUE"}, offerOn{host: "a"}, nil, true},
		{"unique hostname taken", []string{"hostname", "UNIQUE"}, offerOn{host: "a"}, []Placement{on(t, "a", "")}, false},
		{"unique @hostname other host", []string{"@hostname", "UNIQUE"}, offerOn{host: "b"}, []Placement{on(t, "a", "")}, true},
		{"unique attribute taken", []string{"rack", "UNIQUE"}, offerOn{host: "b", attrs: "rack:r1"}, []Placement{on(t, "a", "rack:r1")}, false},
		{"unique attribute missing", []string{"rack", "UNIQUE"}, offerOn{host: "b"}, nil, false},
		// CLUSTER
		{"cluster value equal", []string{"rack", "CLUSTER", "r1"}, offerOn{attrs: "rack:r1"}, nil, true},
		{"cluster value differs", []string{"rack", "CLUSTER", "r1"}, offerOn{attrs: "rack:r2"}, nil, false},
		{"cluster no value first", []string{"rack", "CLUSTER"}, offerOn{attrs: "rack:r2"}, nil, true},
		{"cluster empty value pins", []string{"rack", "CLUSTER", ""}, offerOn{attrs: "rack:r2"}, []Placement{on(t, "x", "rack:r1")}, false},
		{"cluster no value pinned same", []string{"rack", "CLUSTER"}, offerOn{attrs: "rack:r1"}, []Placement{on(t, "x", "rack:r1")}, true},
		{"cluster no value pinned other", []string{"rack", "CLUSTER"}, offerOn{attrs: "rack:r2"}, []Placement{on(t, "x", "rack:r1")}, false},
		{"cluster hostname", []string{"hostname", "CLUSTER", "a"}, offerOn{host: "a"}, nil, true},
		{"cluster missing attribute", []string{"rack", "CLUSTER", "r1"}, offerOn{}, nil, false},
		// GROUP_BY without N
		{"group_by first", []string{"zone", "GROUP_BY"}, offerOn{attrs: "zone:z1"}, nil, true},
		{"group_by new value", []string{"zone", "GROUP_BY"}, offerOn{attrs: "zone:z2"}, []Placement{on(t, "x", "zone:z1")}, true},
		{"group_by value ahead", []string{"zone", "GROUP_BY"}, offerOn{attrs: "zone:z1"},
			[]Placement{on(t, "x", "zone:z1"), on(t, "y", "zone:z2"), on(t, "w", "zone:z1")}, false},
		{"group_by value behind", []string{"zone", "GROUP_BY"}, offerOn{attrs: "zone:z2"},
			[]Placement{on(t, "x", "zone:z1"), on(t, "y", "zone:z2"), on(t, "w", "zone:z1")}, true},
		{"group_by balanced", []string{"zone", "GROUP_BY"}, offerOn{attrs: "zone:z1"},
			[]Placement{on(t, "x", "zone:z1"), on(t, "y", "zone:z2")}, true},
		{"group_by only value seen", []string{"zone", "GROUP_BY"}, offerOn{attrs: "zone:z1"}, []Placement{on(t, "x", "zone:z1")}, true},
		// GROUP_BY with N
		{"group_by 2 waits for second value", []string{"zone", "GROUP_BY", "2"}, offerOn{attrs: "zone:z1"}, []Placement{on(t, "x", "zone:z1")}, false},
		{"group_by 2 second value", []string{"zone", "GROUP_BY", "2"}, offerOn{attrs: "zone:z2"}, []Placement{on(t, "x", "zone:z1")}, true},
		{"group_by 2 all seen balanced", []string{"zone", "GROUP_BY", "2"}, offerOn{attrs: "zone:z1"},
			[]Placement{on(t, "x", "zone:z1"), on(t, "y", "zone:z2")}, true},
		{"group_by 3 region", []string{"@region", "GROUP_BY", "3"}, offerOn{region: "r1"}, nil, true},
		{"group_by bad N", []string{"zone", "GROUP_BY", "two"}, offerOn{attrs: "zone:z1"}, nil, false},
		// LIKE
		{"like full match", []string{"rack", "LIKE", "r[0-9]"}, offerOn{attrs: "rack:r1"}, nil, true},
		{"like is anchored", []string{"rack", "LIKE", "r[0-9]"}, offerOn{attrs: "rack:r12"}, nil, false},
		{"like alternation anchored", []string{"hostname", "LIKE", "a|b"}, offerOn{host: "ab"}, nil, false},
		{"like missing attribute", []string{"rack", "LIKE", ".*"}, offerOn{}, nil, false},
		{"like bad regex", []string{"rack", "LIKE", "("}, offerOn{attrs: "rack:r1"}, nil, false},
		{"like no value", []string{"rack", "LIKE"}, offerOn{attrs: "rack:r1"}, nil, false},
		{"like scalar text form", []string{"cores", "LIKE", "2\\.5"}, offerOn{attrs: "cores:2.5"}, nil, true},
		// UNLIKE
		{"unlike matching", []string{"rack", "UNLIKE", "r[0-9]"}, offerOn{attrs: "rack:r1"}, nil, false},
		{"unlike not matching", []string{"rack", "UNLIKE", "r[0-9]"}, offerOn{attrs: "rack:r12"}, nil, true},
		{"unlike missing attribute", []string{"rack", "UNLIKE", "r1"}, offerOn{}, nil, true},
		{"unlike bad regex", []string{"rack", "UNLIKE", "("}, offerOn{attrs: "rack:r1"}, nil, false},
		// MAX_PER
		{"max_per under", []string{"rack", "MAX_PER", "2"}, offerOn{attrs: "rack:r1"}, []Placement{on(t, "x", "rack:r1")}, true},
		{"max_per reached", []string{"rack", "MAX_PER", "2"}, offerOn{attrs: "rack:r1"},
			[]Placement{on(t, "x", "rack:r1"), on(t, "y", "rack:r1"), on(t, "z", "rack:r2")}, false},
		{"max_per other value", []string{"rack", "MAX_PER", "1"}, offerOn{attrs: "rack:r2"}, []Placement{on(t, "x", "rack:r1")}, true},
		{"max_per hostname", []string{"hostname", "MAX_PER", "1"}, offerOn{host: "x"}, []Placement{on(t, "x", "")}, false},
		{"max_per bad N", []string{"rack", "MAX_PER", "x"}, offerOn{attrs: "rack:r1"}, nil, false},
		// IS
		{"is text", []string{"rack", "IS", "r1"}, offerOn{attrs: "rack:r1"}, nil, true},
		{"is text differs", []string{"rack", "IS", "r1"}, offerOn{attrs: "rack:r2"}, nil, false},
		{"is scalar", []string{"cores", "IS", "3"}, offerOn{attrs: "cores:3.0"}, nil, true},
		{"is scalar rounded", []string{"cores", "IS", "2.5"}, offerOn{attrs: "cores:2.5004"}, nil, true},
		{"is scalar differs", []string{"cores", "IS", "2.6"}, offerOn{attrs: "cores:2.5"}, nil, false},
		{"is scalar vs text", []string{"cores", "IS", "three"}, offerOn{attrs: "cores:3"}, nil, false},
		{"is ranges", []string{"slots", "IS", "[1-5,7-9]"}, offerOn{attrs: "slots:[1-5,7-9]"}, nil, true},
		{"is zone", []string{"@zone", "IS", "z1"}, offerOn{zone: "z1"}, nil, true},
		{"is missing zone", []string{"@zone", "IS", "z1"}, offerOn{}, nil, false},
		// malformed
		{"unknown operator", []string{"rack", "EQ", "r1"}, offerOn{attrs: "rack:r1"}, nil, false},
		{"no operator", []string{"rack"}, offerOn{attrs: "rack:r1"}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := testApp()
			app.Constraints = [][]string{tt.constraint}
			offer := testOffer(t, plentiful, tt.offer.attrs)
			offer.Hostname = tt.offer.host
			if tt.offer.region != "" || tt.offer.zone != "" {
				fd := &mesosv1.FaultDomain{}
				fd.Region.Name = tt.offer.region
				fd.Zone.Name = tt.offer.zone
				offer.Domain = &mesosv1.DomainInfo{FaultDomain: fd}
			}
			got := Match(app, offer, tt.placed, dcosCfg)
			if got.Matched != tt.want {
				t.Fatalf("Match(%q) matched = %v, want %v (reasons %v)", tt.constraint, got.Matched, tt.want, got.Reasons)
			}
			if !tt.want {
				if diff := cmp.Diff([]string{ReasonUnfulfilledConstraint}, got.Reasons); diff != "" {
					t.Errorf("reasons (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestMatchPlacementRegionZone(t *testing.T) {
	app := testApp()
	app.Constraints = [][]string{{"@zone", "UNIQUE"}}
	offer := testOffer(t, plentiful, "")
	fd := &mesosv1.FaultDomain{}
	fd.Region.Name, fd.Zone.Name = "r", "z1"
	offer.Domain = &mesosv1.DomainInfo{FaultDomain: fd}
	if got := Match(app, offer, []Placement{{Hostname: "x", Region: "r", Zone: "z1"}}, dcosCfg); got.Matched {
		t.Error("UNIQUE @zone matched a zone already in use")
	}
	if got := Match(app, offer, []Placement{{Hostname: "x", Region: "r", Zone: "z2"}}, dcosCfg); !got.Matched {
		t.Errorf("UNIQUE @zone refused a new zone: %v", got.Reasons)
	}
}

func TestAttributeText(t *testing.T) {
	tests := []struct {
		attr mesosv1.Attribute
		want string
	}{
		{mesosv1.Attribute{Name: "a", Type: mesosv1.Text, Text: &mesosv1.ValueText{Value: "x"}}, "x"},
		{mesosv1.Attribute{Name: "a", Type: mesosv1.Scalar, Scalar: &mesosv1.ValueScalar{Value: 3}}, "3"},
		{mesosv1.Attribute{Name: "a", Type: mesosv1.Scalar, Scalar: &mesosv1.ValueScalar{Value: 2.5}}, "2.5"},
		{mesosv1.Attribute{Name: "a", Type: mesosv1.Scalar, Scalar: &mesosv1.ValueScalar{Value: 0.12345}}, "0.123"},
		{mesosv1.Attribute{Name: "a", Type: mesosv1.Ranges, Ranges: &mesosv1.ValueRanges{Range: []mesosv1.ValueRange{{Begin: 1, End: 5}, {Begin: 7, End: 9}}}}, "[1-5,7-9]"},
		{mesosv1.Attribute{Name: "a", Type: mesosv1.Set, Set: &mesosv1.ValueSet{Item: []string{"a", "b"}}}, "{a,b}"},
	}
	for _, tt := range tests {
		got, _, ok := attributeText(tt.attr)
		if !ok || got != tt.want {
			t.Errorf("attributeText(%+v) = %q, %v; want %q", tt.attr, got, ok, tt.want)
		}
	}
	if _, _, ok := attributeText(mesosv1.Attribute{Name: "a", Type: mesosv1.Text}); ok {
		t.Error("a TEXT attribute without a value counted as present")
	}
}

func FuzzMatch(f *testing.F) {
	f.Add("hostname", "UNIQUE", "", "rack:r1;zone:2", uint8(3))
	f.Add("rack", "CLUSTER", "r1", "rack:r1", uint8(0))
	f.Add("zone", "GROUP_BY", "3", "zone:[1-5]", uint8(7))
	f.Add("rack", "LIKE", "r(", "rack:r1", uint8(1))
	f.Add("rack", "UNLIKE", "", "", uint8(1))
	f.Add("@zone", "MAX_PER", "-1", "", uint8(2))
	f.Add("cores", "IS", "NaN", "cores:2.5", uint8(2))
	f.Fuzz(func(t *testing.T, field, op, value, attributes string, nPlaced uint8) {
		attrs, _ := mesosv1.ParseAttributes(attributes) // partial results are fine
		app := testApp()
		app.Constraints = [][]string{{field, op, value}, {field, op}, {field}}
		offer := testOffer(t, plentiful, "")
		offer.Attributes = attrs
		var placed []Placement
		for i := range int(nPlaced % 16) {
			placed = append(placed, Placement{Hostname: fmt.Sprintf("h%d", i%3), Attributes: attrs})
		}
		for i := range app.Constraints {
			app.Constraints = app.Constraints[i : i+1]
			got := Match(app, offer, placed, dcosCfg)
			if got.Matched == (len(got.Reasons) > 0) {
				t.Fatalf("Matched = %v with reasons %v", got.Matched, got.Reasons)
			}
			app.Constraints = [][]string{{field, op, value}, {field, op}, {field}}
		}
	})
}

func BenchmarkMatch(b *testing.B) {
	app := testApp()
	app.Constraints = [][]string{{"hostname", "MAX_PER", "5"}, {"zone", "GROUP_BY", "3"}}
	offer := testOffer(b, "cpus:32;mem:65536;disk:100000;ports:[31000-32000]", "rack:r7;zone:z1;cores:16;public_ip:false")
	offer.Hostname = "agent-7"
	placed := make([]Placement, 100)
	for i := range placed {
		placed[i] = on(b, fmt.Sprintf("agent-%d", i%25), fmt.Sprintf("rack:r%d;zone:z%d;cores:16;public_ip:false", i%25, i%3))
	}
	b.ReportAllocs()
	for b.Loop() {
		if got := Match(app, offer, placed, dcosCfg); !got.Matched {
			b.Fatalf("no match: %v", got.Reasons)
		}
	}
}
