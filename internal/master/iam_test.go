package master

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	marathon "github.com/gambol99/go-marathon"

	"github.com/basalt-dcos/basalt/internal/store/storetest"
)

// call makes one request with an optional DC/OS token and returns the
// status and body.
func call(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "token="+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func login(t *testing.T, ar, uid, password string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"uid": uid, "password": password})
	code, resp := call(t, "POST", ar+"/acs/api/v1/auth/login", "", string(body))
	var out struct{ Token string }
	if code != http.StatusOK || json.Unmarshal([]byte(resp), &out) != nil || out.Token == "" {
		t.Fatalf("login %s: %d %s", uid, code, resp)
	}
	return out.Token
}

// TestStrictSecurityThreeMasters runs three masters in strict mode with the
// real IAM behind their Admin Routers: the bootstrap superuser logs in at
// one master and its token works at the others; a new user without
// permissions is refused (403) until granted the route's permission, and
// Marathon's Go client works through the router with the token.
func TestStrictSecurityThreeMasters(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("Correct-Horse-9\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var members []string
	for i := range 3 {
		members = append(members, "m"+string(rune('0'+i))+"="+storetest.FreeURL(t))
	}
	var cfgs []Config
	for i := range 3 {
		cfg := testConfig(t)
		cfg.Masters = members
		cfg.StoreTLS = false // plain store between masters here; store TLS: internal/clustertest
		cfg.StoreName = "m" + string(rune('0'+i))
		cfg.Security = "strict"
		cfg.Superuser = "admin"
		cfg.SuperuserPasswordFile = pw
		cfgs = append(cfgs, cfg)
	}
	nodes := startNodes(t, cfgs)
	eventually(t, "one leader", func() bool { return len(leaders(nodes)) == 1 })
	for _, n := range nodes {
		if p := n.m.BootstrapPassword(); p != "" {
			t.Errorf("a password was generated although one was given")
		}
	}
	ar0, ar1, ar2 := nodes[0].m.AdminRouterURL(), nodes[1].m.AdminRouterURL(), nodes[2].m.AdminRouterURL()

	if code, _ := call(t, "GET", ar1+"/mesos/master/state", "", ""); code != http.StatusUnauthorized {
		t.Fatalf("no token: %d, want 401", code)
	}
	if code, body := call(t, "POST", ar0+"/acs/api/v1/auth/login", "", `{"uid": "admin", "password": "nope"}`); code != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d %s", code, body)
	}
	admin := login(t, ar0, "admin", "Correct-Horse-9")
	for _, ar := range []string{ar0, ar1, ar2} {
		code, body := call(t, "GET", ar+"/mesos/master/state", admin, "")
		if code != http.StatusOK || !strings.Contains(body, `"leader_info"`) && !strings.Contains(body, `"leader"`) {
			t.Errorf("%s/mesos/master/state as admin: %d %.200s", ar, code, body)
		}
	}

	// A user with no permission, then with the one /mesos/ needs.
	if code, body := call(t, "PUT", ar1+"/acs/api/v1/users/bob", admin, `{"description": "Bob", "password": "Bobs-Pass-123"}`); code != http.StatusCreated {
		t.Fatalf("create bob: %d %s", code, body)
	}
	bob := login(t, ar2, "bob", "Bobs-Pass-123")
	if code, body := call(t, "GET", ar0+"/mesos/master/state", bob, ""); code != http.StatusForbidden || !strings.Contains(body, "dcos:adminrouter:ops:mesos") {
		t.Fatalf("bob without permission: %d %s", code, body)
	}
	rid := url.PathEscape("dcos:adminrouter:ops:mesos")
	if code, body := call(t, "PUT", ar0+"/acs/api/v1/acls/"+rid, admin, `{"description": "Mesos UI and API"}`); code != http.StatusCreated && code != http.StatusConflict { // the system accounts hold it already
		t.Fatalf("create ACL: %d %s", code, body)
	}
	if code, body := call(t, "PUT", ar0+"/acs/api/v1/acls/"+rid+"/users/bob/full", admin, ""); code != http.StatusNoContent {
		t.Fatalf("grant: %d %s", code, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, ar := range []string{ar0, ar1, ar2} {
		for {
			code, _ := call(t, "GET", ar+"/mesos/master/state", bob, "")
			if code == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: bob still refused after the grant: %d", ar, code)
			}
			time.Sleep(20 * time.Millisecond) // the grant reaches other masters through the store's watch
		}
	}
	if code, _ := call(t, "GET", ar0+"/service/marathon/v2/apps", bob, ""); code != http.StatusForbidden {
		t.Errorf("bob on Marathon: %d, want 403", code)
	}
	if code, _ := call(t, "GET", ar0+"/acs/api/v1/users", bob, ""); code != http.StatusForbidden {
		t.Errorf("bob on the IAM: %d, want 403", code)
	}

	// go-marathon, as a DC/OS user configures it: with a DCOSToken it adds
	// "/marathon" to the cluster URL itself (the deprecated route).
	eventually(t, "a Marathon leader", func() bool {
		code, _ := call(t, "GET", ar1+"/service/marathon/v2/info", admin, "")
		return code == http.StatusOK
	})
	cli, err := marathon.NewClient(marathon.Config{URL: ar1, DCOSToken: admin, HTTPClient: &http.Client{Timeout: 10 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Applications(nil); err != nil {
		t.Errorf("go-marathon with the token: %v", err)
	}
	anon, err := marathon.NewClient(marathon.Config{URL: ar1 + "/service/marathon", HTTPClient: &http.Client{Timeout: 10 * time.Second}})
	if err == nil {
		if _, err := anon.Applications(nil); err == nil {
			t.Error("go-marathon without a token was let in")
		}
	}
}

// TestBootstrapPasswordGenerated: with no password given, the first master
// generates one, shows it (BootstrapPassword), keeps it only in a 0600 file,
// and it logs in; a restart does not make a second one.
func TestBootstrapPasswordGenerated(t *testing.T) {
	cfg := testConfig(t)
	cfg.Security = "strict"
	nodes := startNodes(t, []Config{cfg})
	pw := nodes[0].m.BootstrapPassword()
	if len(pw) < 16 {
		t.Fatalf("generated password %q is too short", pw)
	}
	path := filepath.Join(cfg.DataDir, BootstrapPasswordFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("%s mode %v, want 0600", path, fi.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	if !bytes.Equal(bytes.TrimSpace(b), []byte(pw)) {
		t.Error("the file does not hold the password shown")
	}
	login(t, nodes[0].m.AdminRouterURL(), "bootstrapuser", pw)
	nodes[0].stop(t)
	again := startNodes(t, []Config{cfg})
	if p := again[0].m.BootstrapPassword(); p != "" {
		t.Error("a restarted master generated another password")
	}
	login(t, again[0].m.AdminRouterURL(), "bootstrapuser", pw)
}

// TestSecurityDisabled: with security disabled nothing asks for a token,
// the IAM API included (users can still be prepared before turning it on).
func TestSecurityDisabled(t *testing.T) {
	cfg := testConfig(t)
	cfg.Security = "disabled"
	nodes := startNodes(t, []Config{cfg})
	ar := nodes[0].m.AdminRouterURL()
	eventually(t, "leader", func() bool { return nodes[0].m.IsLeader() })
	if code, body := call(t, "GET", ar+"/mesos/master/state", "", ""); code != http.StatusOK {
		t.Errorf("/mesos/ without a token: %d %.200s", code, body)
	}
	if code, body := call(t, "PUT", ar+"/acs/api/v1/users/carol", "", `{"description": "Carol", "password": "Carols-Pass-1"}`); code != http.StatusCreated {
		t.Fatalf("create a user without a token: %d %s", code, body)
	}
	login(t, ar, "carol", "Carols-Pass-1")
}
