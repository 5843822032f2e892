package master

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/basalt-dcos/basalt/internal/adminrouter"
	"github.com/basalt-dcos/basalt/internal/iam"
	"github.com/basalt-dcos/basalt/internal/store/storetest"
)

// TestPortPermissionsMatchRouter: each component port asks for the
// permission of the Admin Router route in front of it.
func TestPortPermissionsMatchRouter(t *testing.T) {
	for rid, kind := range map[string]adminrouter.Kind{mesosPortRID: adminrouter.KindMesos, marathonPortRID: adminrouter.KindMarathon, dnsPortRID: adminrouter.KindMesosDNS} {
		if got := adminrouter.Permission(adminrouter.Route{Kind: kind}); got != rid {
			t.Errorf("%v: router asks %q, the port %q", kind, got, rid)
		}
	}
}

// TestPortGuardModes: what each security mode lets through on a component
// port (docs/iam.md, "Component ports").
func TestPortGuardModes(t *testing.T) {
	svc, err := iam.New(t.Context(), iam.Config{Store: storetest.Open(t), Issuer: iam.ClusterIssuer, Logger: storetest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	if err := ensureSystemAccounts(t.Context(), svc); err != nil {
		t.Fatal(err)
	}
	withPerm, _ := svc.IssueToken(iam.SystemAdminRouter) // holds dnsPortRID
	noPerm, _ := svc.IssueToken(iam.SystemMarathon)      // holds mesosPortRID only
	open := func(r *http.Request) bool { return r.URL.Path == "/ping" }
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })

	type call struct {
		path, token string
		want        int
	}
	for mode, calls := range map[string][]call{
		"strict": {
			{"/x", "", 401}, {"/x", "garbage", 401}, {"/x", noPerm, 403}, {"/x", withPerm, 200}, {"/ping", "", 200},
		},
		"permissive": {
			{"/x", "", 200}, {"/x", "garbage", 401}, {"/x", noPerm, 200}, {"/x", withPerm, 200},
		},
		"disabled": {
			{"/x", "", 200}, {"/x", "garbage", 200},
		},
	} {
		cfg := testConfig(t)
		cfg.Security = mode
		m, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		m.iam.Store(svc)
		h := m.guard("Mesos-DNS", dnsPortRID, open, ok)
		for _, c := range calls {
			req := httptest.NewRequest("GET", c.path, nil)
			if c.token != "" {
				req.Header.Set("Authorization", "token="+c.token)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != c.want {
				t.Errorf("%s: GET %s with token %.8q: %d %q, want %d", mode, c.path, c.token, w.Code, w.Body, c.want)
			}
			switch w.Code {
			case 401:
				if w.Header().Get("WWW-Authenticate") != "acsjwt" {
					t.Errorf("%s: 401 without the acsjwt challenge", mode)
				}
			case 403:
				if !strings.Contains(w.Body.String(), dnsPortRID) {
					t.Errorf("%s: 403 does not name the permission: %q", mode, w.Body)
				}
			}
		}
	}
}
