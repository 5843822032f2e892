package dns

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/version"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// goldenServer has a fixed clock, so the SOA serial in /v1/axfr is stable.
func goldenServer(t testing.TB) *Server {
	t.Helper()
	cfg := testConfig()
	cfg.Recurse = true
	cfg.Resolvers = []string{"192.0.2.53", "192.0.2.54:5353"}
	cfg.ForwardZones = map[string][]string{"corp": {"192.0.2.55"}}
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return time.Unix(1767225600, 0) }
	s.z.Store(nil)
	tbl := testTable()
	delete(tbl.Names, "big.marathon.mesos.") // 200 addresses make unreadable golden files
	s.Swap(tbl)
	return s
}

func TestHTTPGolden(t *testing.T) {
	h := goldenServer(t).HTTPHandler()
	for _, tc := range []struct {
		file, path string
		status     int
	}{
		{"version", "/v1/version", 200},
		{"config", "/v1/config", 200},
		{"hosts", "/v1/hosts/web.marathon.mesos", 200},
		{"hosts_dot_case", "/v1/hosts/Web.Marathon.Mesos.", 200},
		{"hosts_unknown", "/v1/hosts/nope.marathon.mesos", 200},
		{"services", "/v1/services/_web._tcp.marathon.mesos.", 200},
		{"services_unknown", "/v1/services/_nope._tcp.marathon.mesos", 200},
		{"enumerate", "/v1/enumerate", 200},
		{"axfr", "/v1/axfr", 200},
		{"records", "/v1/records", 200},
		{"vips", "/v1/vips", 200},
		{"ports", "/v1/hosts/web.marathon.mesos/ports", 501},
	} {
		t.Run(tc.file, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", tc.path, nil))
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body)
			}
			got := rec.Body.Bytes()
			if tc.status == 200 {
				var v any
				if err := json.Unmarshal(got, &v); err != nil {
					t.Fatalf("not JSON: %v", err)
				}
				var buf bytes.Buffer
				if err := json.Indent(&buf, got, "", "  "); err != nil {
					t.Fatal(err)
				}
				got = buf.Bytes()
			}
			got = bytes.ReplaceAll(got, []byte(version.Version), []byte("VERSION"))
			file := filepath.Join("testdata", "http", tc.file+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(file, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from %s (run with -update if intended):\n%s", tc.path, file, got)
			}
		})
	}
}

func TestHTTPMethodNotAllowed(t *testing.T) {
	h := goldenServer(t).HTTPHandler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("POST", "/v1/version", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d", rec.Code)
	}
}

func FuzzHTTPPathParams(f *testing.F) {
	for _, s := range []string{"web.marathon.mesos", "_web._tcp.marathon.mesos.", "", ".", ".*", "a.*.b", "ÄÖ.mesos", strings.Repeat("a.", 200), "%2F", "x/y"} {
		f.Add(s)
	}
	h := goldenServer(f).HTTPHandler()
	f.Fuzz(func(t *testing.T, p string) {
		for _, prefix := range []string{"/v1/hosts/", "/v1/services/"} {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", prefix+url.PathEscape(p), nil))
			switch rec.Code {
			case 200:
				var v []map[string]string
				if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil || len(v) == 0 {
					t.Fatalf("%s%q: body %q: %v", prefix, p, rec.Body, err)
				}
			case 301, 307, 308, 404:
			default:
				t.Fatalf("%s%q: status %d", prefix, p, rec.Code)
			}
		}
	})
}
