package agent

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-dcos/basalt/internal/config"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

func TestDetectedResources(t *testing.T) {
	const gb = 1 << 30
	for _, tc := range []struct {
		name   string
		host   HostFacts
		public bool
		want   string
	}{
		{"big private", HostFacts{CPUs: 8, MemBytes: 16 * gb, DiskBytes: 100 * gb}, false,
			"cpus:8;disk:97280;mem:15360;ports:" + PrivatePorts},
		{"small host halves", HostFacts{CPUs: 1, MemBytes: gb, DiskBytes: 8 * gb}, false,
			"cpus:1;disk:4096;mem:512;ports:" + PrivatePorts},
		{"public ports", HostFacts{CPUs: 2, MemBytes: 4 * gb, DiskBytes: 20 * gb}, true,
			"cpus:2;disk:15360;mem:3072;ports:" + PublicPorts},
		{"gpus", HostFacts{CPUs: 2, MemBytes: 4 * gb, DiskBytes: 20 * gb, GPUs: 2}, false,
			"cpus:2;gpus:2;disk:15360;mem:3072;ports:" + PrivatePorts},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DetectedResources(tc.host, tc.public)
			if err != nil {
				t.Fatal(err)
			}
			want, err := mesosv1.ParseResources(tc.want, "")
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(want) {
				t.Errorf("got %s, want %s", got, want)
			}
		})
	}
}

func TestDCOSPortRanges(t *testing.T) {
	r, err := mesosv1.ParseResources("ports:"+PrivatePorts, "")
	if err != nil {
		t.Fatal(err)
	}
	// The ports of DC/OS services on agents are never offered.
	for _, p := range []uint64{2181, 3888, 5050, 5051, 8080, 8081, 8181} {
		if r.Contains(mesosv1.Resources{mesosv1.NewRanges("ports", mesosv1.ValueRange{Begin: p, End: p})}) {
			t.Errorf("private range offers port %d", p)
		}
	}
	pub, _ := mesosv1.ParseResources("ports:"+PublicPorts, "")
	for _, p := range []uint64{80, 443, 10000} {
		if !pub.Contains(mesosv1.Resources{mesosv1.NewRanges("ports", mesosv1.ValueRange{Begin: p, End: p})}) {
			t.Errorf("public range misses port %d", p)
		}
	}
}

func TestMergeResourcesExplicitWins(t *testing.T) {
	detected, _ := DetectedResources(HostFacts{CPUs: 8, MemBytes: 16 << 30, DiskBytes: 100 << 30}, true)
	explicit, err := mesosv1.ParseResources("cpus:2;gpus:1", PublicRole)
	if err != nil {
		t.Fatal(err)
	}
	got := MergeResources(explicit, detected, PublicRole)
	if got.ScalarSum("cpus") != 2 || got.ScalarSum("gpus") != 1 || got.ScalarSum("mem") != 15360 {
		t.Errorf("merged = %s", got)
	}
	if un := got.Unreserved(); !un.IsEmpty() {
		t.Errorf("public agent has unreserved resources: %s", un)
	}
	if got.ReservedTo(PublicRole).ScalarSum("mem") != 15360 {
		t.Errorf("detected mem not reserved to %s: %s", PublicRole, got)
	}
}

func TestDetectHost(t *testing.T) {
	h, err := DetectHost(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if h.CPUs < 1 || h.MemBytes == 0 || h.DiskBytes == 0 {
		t.Errorf("host = %+v", h)
	}
}

func TestConfigBindsAsFlags(t *testing.T) {
	cfg := DefaultConfig()
	fields, err := config.Fields(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, f := range fields {
		got[f.Flag] = true
	}
	for _, want := range []string{"master", "listen", "hostname", "advertise-ip", "work-dir", "resources", "attributes",
		"public", "containerizers", "heartbeat-interval", "registration-backoff-min", "registration-backoff-max",
		"status-update-retry-min", "status-update-retry-max", "default-kill-grace", "executor-shutdown-grace-period",
		"gc-delay", "domain-region", "domain-zone"} {
		if !got[want] {
			t.Errorf("no --%s flag", want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	c := DefaultConfig()
	c.Masters = []string{"ftp://x"}
	c.Resources = "cpus:x"
	c.HeartbeatInterval = 0
	c.Domain.Region = "r"
	err := c.Validate()
	for _, want := range []string{"ftp://x", "resources", "heartbeat interval", "fault domain"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to mention %q", err, want)
		}
	}
}

func TestPublicAgentIdentity(t *testing.T) {
	m := newFakeMaster(t)
	cfg := fakeConfig(t, m)
	cfg.Public = true
	cfg.Resources = "cpus:2;mem:1024"
	a := startAgent(t, cfg, fakeConts(nil))
	info := m.lastSubscribe().AgentInfo
	res := mesosv1.Resources(info.Resources)
	if !res.Unreserved().IsEmpty() || res.ReservedTo(PublicRole).ScalarSum("cpus") != 2 {
		t.Errorf("public agent resources = %s", res)
	}
	want, _ := mesosv1.ParseResources("ports:"+PublicPorts, PublicRole)
	if got := res.Filter(func(r mesosv1.Resource) bool { return r.Name == "ports" }); !got.Equal(want) {
		t.Errorf("public ports = %s", got)
	}
	var attrs []string
	for _, at := range info.Attributes {
		attrs = append(attrs, at.Name+":"+mesosv1.AttributeString(at))
	}
	if !cmp.Equal(attrs, []string{"public_ip:true"}) {
		t.Errorf("attributes = %v", attrs)
	}
	_ = a
}

// FuzzExtract feeds arbitrary archives to the fetcher's extraction: it may
// fail, but must never write outside the sandbox.
func FuzzExtract(f *testing.F) {
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	tw.WriteHeader(&tar.Header{Name: "a/b.txt", Typeflag: tar.TypeReg, Mode: 0o644, Size: 2})
	tw.Write([]byte("hi"))
	tw.WriteHeader(&tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: "../.."})
	tw.WriteHeader(&tar.Header{Name: "l/x", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1})
	tw.Write([]byte("x"))
	tw.Close()
	f.Add(tb.Bytes(), false)
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	w, _ := zw.Create("../escape.txt")
	w.Write([]byte("no"))
	w, _ = zw.Create("ok/fine.txt")
	w.Write([]byte("yes"))
	zw.Close()
	f.Add(zb.Bytes(), true)
	f.Add([]byte("not an archive"), false)
	f.Fuzz(func(t *testing.T, data []byte, isZip bool) {
		dir := t.TempDir()
		sb := filepath.Join(dir, "sandbox")
		if err := os.Mkdir(sb, 0o755); err != nil {
			t.Fatal(err)
		}
		name := "in.tar"
		if isZip {
			name = "in.zip"
		}
		src := filepath.Join(sb, name)
		if err := os.WriteFile(src, data, 0o644); err != nil {
			t.Fatal(err)
		}
		root, err := os.OpenRoot(sb)
		if err != nil {
			t.Fatal(err)
		}
		defer root.Close()
		a, err := os.Open(src)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		_ = extract(archiveKind(name), a, root, "in", 1<<20)
		// Nothing but the sandbox may exist in dir.
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 || entries[0].Name() != "sandbox" {
			t.Fatalf("extraction wrote outside the sandbox: %v", entries)
		}
	})
}

// FuzzFetchName checks that no URI yields a file name outside the sandbox.
func FuzzFetchName(f *testing.F) {
	for _, s := range []string{"http://x/a.tgz", "file:///tmp/../etc/passwd", "/abs/path.zip", "http://x/", "..", "http://h/%2e%2e"} {
		f.Add(s, "")
	}
	f.Add("http://x/y", "../../z")
	f.Fuzz(func(t *testing.T, value, output string) {
		name, err := fetchName(mesosv1.CommandURI{Value: value, OutputFile: output})
		if err != nil {
			return
		}
		if !filepath.IsLocal(name) {
			t.Fatalf("fetchName(%q, %q) = %q escapes the sandbox", value, output, name)
		}
	})
}
