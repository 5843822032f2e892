package l4lb

import (
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/basalt-dcos/basalt/internal/dns/records"
	"github.com/google/go-cmp/cmp"
)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func key(s, proto string) vipKey {
	a := ap(s)
	return vipKey{IP: a.Addr(), Port: a.Port(), Proto: proto}
}

func vip(s, proto string, backends ...string) records.VIP {
	a := ap(s)
	v := records.VIP{IP: a.Addr(), Port: a.Port(), Protocol: proto}
	for i, b := range backends {
		bp := ap(b)
		v.Backends = append(v.Backends, records.Backend{IP: bp.Addr(), Port: bp.Port(), TaskID: "task" + string(rune('a'+i))})
	}
	return v
}

func TestNormalize(t *testing.T) {
	tests := []struct {
		name    string
		in      []records.VIP
		want    map[vipKey][]netip.AddrPort
		wantErr int
	}{
		{name: "empty", in: nil, want: map[vipKey][]netip.AddrPort{}},
		{
			name: "sorted and deduplicated",
			in:   []records.VIP{vip("11.0.0.7:80", "tcp", "10.0.0.2:31000", "10.0.0.1:31000", "10.0.0.2:31000")},
			want: map[vipKey][]netip.AddrPort{key("11.0.0.7:80", "tcp"): {ap("10.0.0.1:31000"), ap("10.0.0.2:31000")}},
		},
		{
			name: "same key from two declarations merged; protocols kept apart",
			in: []records.VIP{
				vip("1.2.3.4:80", "tcp", "10.0.0.1:1"),
				vip("1.2.3.4:80", "tcp", "10.0.0.2:2"),
				vip("1.2.3.4:80", "udp", "10.0.0.3:3"),
			},
			want: map[vipKey][]netip.AddrPort{
				key("1.2.3.4:80", "tcp"): {ap("10.0.0.1:1"), ap("10.0.0.2:2")},
				key("1.2.3.4:80", "udp"): {ap("10.0.0.3:3")},
			},
		},
		{
			name: "no backends still listens",
			in:   []records.VIP{vip("11.0.0.8:80", "tcp")},
			want: map[vipKey][]netip.AddrPort{key("11.0.0.8:80", "tcp"): {}},
		},
		{
			name: "IPv4-mapped addresses unmapped",
			in:   []records.VIP{vip("[::ffff:11.0.0.9]:80", "tcp", "[::ffff:10.0.0.1]:5")},
			want: map[vipKey][]netip.AddrPort{key("11.0.0.9:80", "tcp"): {ap("10.0.0.1:5")}},
		},
		{
			name: "invalid entries reported and skipped",
			in: []records.VIP{
				{Port: 80, Protocol: "tcp"},
				vip("0.0.0.0:80", "tcp"),
				vip("11.0.0.1:0", "tcp"),
				vip("11.0.0.1:80", "sctp"),
				{IP: netip.MustParseAddr("11.0.0.2"), Port: 80, Protocol: "tcp", Backends: []records.Backend{{IP: netip.MustParseAddr("10.0.0.1")}}},
			},
			want:    map[vipKey][]netip.AddrPort{key("11.0.0.2:80", "tcp"): {}},
			wantErr: 5,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, errs := normalize(tt.in)
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b }), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("normalize (-want +got):\n%s", diff)
			}
			if len(errs) != tt.wantErr {
				t.Errorf("normalize: %d errors %v, want %d", len(errs), errs, tt.wantErr)
			}
		})
	}
}

func TestDiff(t *testing.T) {
	a, b, c := key("11.0.0.1:80", "tcp"), key("11.0.0.2:80", "tcp"), key("11.0.0.2:53", "udp")
	one := []netip.AddrPort{ap("10.0.0.1:1")}
	two := []netip.AddrPort{ap("10.0.0.1:1"), ap("10.0.0.2:2")}
	type m = map[vipKey][]netip.AddrPort
	tests := []struct {
		name             string
		current, desired m
		want             plan
	}{
		{name: "nothing", current: m{}, desired: m{}},
		{name: "unchanged is untouched", current: m{a: one, b: two}, desired: m{a: one, b: two}},
		{name: "first sync adds all, sorted", current: m{}, desired: m{c: one, b: one, a: two}, want: plan{add: []vipKey{a, c, b}}},
		{name: "backend removed", current: m{a: two, b: one}, desired: m{a: one, b: one}, want: plan{update: []vipKey{a}}},
		{name: "backend list emptied", current: m{a: one}, desired: m{a: {}}, want: plan{update: []vipKey{a}}},
		{name: "vip removed", current: m{a: one, b: one}, desired: m{b: one}, want: plan{remove: []vipKey{a}}},
		{name: "mixed", current: m{a: one, b: one}, desired: m{b: two, c: one}, want: plan{add: []vipKey{c}, update: []vipKey{b}, remove: []vipKey{a}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := diff(tt.current, tt.desired)
			if d := cmp.Diff(tt.want, got, cmp.AllowUnexported(plan{}, vipKey{}), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); d != "" {
				t.Errorf("diff (-want +got):\n%s", d)
			}
			if got.empty() != (len(tt.want.add)+len(tt.want.update)+len(tt.want.remove) == 0) {
				t.Errorf("empty() = %v", got.empty())
			}
		})
	}
}

func TestPicker(t *testing.T) {
	b1, b2, b3 := ap("10.0.0.1:1"), ap("10.0.0.2:2"), ap("10.0.0.3:3")
	errDown := errors.New("down")
	tests := []struct {
		name     string
		backends []netip.AddrPort
		down     map[netip.AddrPort]bool
		picks    int
		want     []netip.AddrPort // zero AddrPort: the pick failed
	}{
		{name: "none", picks: 2, want: []netip.AddrPort{{}, {}}},
		{name: "round robin", backends: []netip.AddrPort{b1, b2, b3}, picks: 6, want: []netip.AddrPort{b1, b2, b3, b1, b2, b3}},
		{name: "skips a backend that fails to dial", backends: []netip.AddrPort{b1, b2, b3}, down: map[netip.AddrPort]bool{b2: true}, picks: 4, want: []netip.AddrPort{b1, b3, b3, b1}},
		{name: "all down", backends: []netip.AddrPort{b1, b2}, down: map[netip.AddrPort]bool{b1: true, b2: true}, picks: 1, want: []netip.AddrPort{{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPicker(tt.backends)
			var got []netip.AddrPort
			for range tt.picks {
				c, b, err := p.dial(func(b netip.AddrPort) (net.Conn, error) {
					if tt.down[b] {
						return nil, errDown
					}
					return nil, nil
				})
				if err != nil {
					if c != nil {
						t.Fatalf("dial returned a connection with error %v", err)
					}
					if len(tt.backends) > 0 && !errors.Is(err, errDown) {
						t.Errorf("error %v does not wrap every dial error", err)
					}
				}
				got = append(got, b)
			}
			if d := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); d != "" {
				t.Errorf("picks (-want +got):\n%s", d)
			}
		})
	}
}

func TestPickerSwap(t *testing.T) {
	b1, b2 := ap("10.0.0.1:1"), ap("10.0.0.2:2")
	p := newPicker([]netip.AddrPort{b1, b2})
	p.store([]netip.AddrPort{b2})
	for range 3 {
		_, b, err := p.dial(func(netip.AddrPort) (net.Conn, error) { return nil, nil })
		if err != nil || b != b2 {
			t.Fatalf("after swap: picked %v, %v; want %v", b, err, b2)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	err := Config{DrainTimeout: -1}.Validate()
	if got := len(errorLines(err)); got != 4 {
		t.Errorf("zero config: %d problems (%v), want 4", got, err)
	}
	if _, err := New(Config{}, nil); err == nil {
		t.Error("New accepted an invalid config")
	}
}
