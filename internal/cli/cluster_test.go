package cli

import (
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-dcos/basalt/internal/cli/clusterstore"
)

// setupAlice sets up fr as alice and returns the CLI environment.
func setupAlice(t *testing.T, fr *fakeRouter, extra ...string) *cliEnv {
	t.Helper()
	e := newCLIEnv(t)
	pw := writeFile(t, "pw", "wonderland\n")
	args := append([]string{"cluster", "setup", fr.srv.URL, "--username", "alice", "--password-file", pw}, extra...)
	out := e.mustRun(t, args...)
	if !strings.Contains(out, "logged in, attached") {
		t.Fatalf("setup printed %q", out)
	}
	return e
}

func storedConfig(t *testing.T, e *cliEnv, id string) *clusterstore.Config {
	t.Helper()
	c, err := clusterstore.Store{Dir: e.dir}.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	return c.Config
}

func TestSetupWithPasswordAndUseTheCluster(t *testing.T) {
	fc := newFakeCluster(t)
	fc.setFile("/sandboxes/web-aaaa/stdout", lines(1, 15))
	fr := newFakeRouter(t, fc, false)
	e := setupAlice(t, fr)

	// Stored: 0600 file, the token, the name from state-summary, attached.
	dir := filepath.Join(e.dir, "clusters", fr.clusterID)
	fi, err := os.Stat(filepath.Join(dir, "cluster.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("cluster.toml mode %#o, want 0600", fi.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(dir, "attached")); err != nil {
		t.Errorf("not attached: %v", err)
	}
	cfg := storedConfig(t, e, fr.clusterID)
	tok, _ := cfg.Get("core.dcos_acs_token")
	name, _ := cfg.Get("cluster.name")
	url, _ := cfg.Get("core.dcos_url")
	if tok == "" || name != "fake-cluster" || url != fr.srv.URL {
		t.Errorf("stored token %q, name %q, url %q", tok, name, url)
	}

	// The client commands go through Admin Router with the token; the
	// output is what the direct route prints (same golden files).
	for _, tt := range []struct{ golden, prefix string }{
		{"node_list", "/mesos/master/state"},
		{"task_log", "/agent/agent-private-S0/"},
	} {
		args := map[string][]string{"node_list": {"node", "list"}, "task_log": {"task", "log", "web"}}[tt.golden]
		out := e.mustRun(t, args...)
		golden(t, tt.golden, strings.ReplaceAll(out, fc.agentAddr, "{{AGENT}}"))
		reqs := fr.recorded(tt.prefix)
		if len(reqs) == 0 {
			t.Fatalf("%s: no request under %s reached the router", tt.golden, tt.prefix)
		}
		for _, r := range reqs {
			if r.Auth != "token="+tok {
				t.Errorf("%s %s: Authorization %q, want the stored token", r.Method, r.Path, r.Auth)
			}
		}
	}
	golden(t, "marathon/app_list", e.mustRun(t, "marathon", "app", "list"))
	reqs := fr.recorded("/service/marathon/")
	if len(reqs) == 0 {
		t.Fatal("marathon app list: no request reached /service/marathon/")
	}
	for _, r := range reqs {
		if r.Auth != "token="+tok {
			t.Errorf("%s %s: Authorization %q, want the stored token", r.Method, r.Path, r.Auth)
		}
	}

	// An explicit --master gets no token, unless --token gives one.
	e.mustRun(t, "node", "list", "--master", fc.leader.URL)
	before := len(fr.recorded("/"))
	e.vars["BASALT_MASTER_URL"] = fr.srv.URL + "/mesos"
	code, _, stderr := e.run(t, "node", "list")
	if code == 0 || !strings.Contains(stderr, "--token") {
		t.Errorf("explicit master through the router without a token: exit %d, stderr %q", code, stderr)
	}
	e.mustRun(t, "node", "list", "--token", tok)
	reqs = fr.recorded("/")[before:]
	if len(reqs) != 2 || reqs[0].Auth != "" || reqs[1].Auth != "token="+tok {
		t.Errorf("explicit master requests %+v: want one without and one with the token", reqs)
	}
}

func TestSetupServiceAccount(t *testing.T) {
	fr := newFakeRouter(t, nil, false)
	e := setupAlice(t, fr)
	keys := t.TempDir()
	priv, pub := filepath.Join(keys, "priv.pem"), filepath.Join(keys, "pub.pem")
	e.mustRun(t, "security", "org", "service-accounts", "keypair", priv, pub)
	if fi, err := os.Stat(priv); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("private key: %v, mode %v", err, fi.Mode())
	}
	if code, _, _ := e.run(t, "security", "org", "service-accounts", "keypair", priv, pub); code == 0 {
		t.Error("keypair overwrote existing key files")
	}
	half := filepath.Join(keys, "half.pem")
	if code, _, _ := e.run(t, "security", "org", "service-accounts", "keypair", half, pub); code == 0 {
		t.Error("keypair overwrote an existing public key")
	}
	if _, err := os.Stat(half); !os.IsNotExist(err) {
		t.Errorf("a failed keypair left its private key behind: %v", err)
	}
	e.mustRun(t, "security", "org", "service-accounts", "create", "ci-bot", "--public-key", pub, "--description", "CI")

	// A second CLI that knows nothing logs in as the service account.
	e2 := newCLIEnv(t)
	e2.mustRun(t, "cluster", "setup", fr.srv.URL, "--username", "ci-bot", "--private-key", priv)
	tok, _ := storedConfig(t, e2, fr.clusterID).Get("core.dcos_acs_token")
	if tok == "" {
		t.Fatal("no token stored after the service login")
	}
	out := e2.mustRun(t, "security", "org", "service-accounts", "list", "--json")
	var list []iamEntry
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 || list[0].UID != "ci-bot" || list[0].Description != "CI" {
		t.Errorf("service accounts %s (%v)", out, err)
	}

	// Another key does not log in as ci-bot.
	other, otherPub := filepath.Join(keys, "other.pem"), filepath.Join(keys, "other.pub")
	e.mustRun(t, "security", "org", "service-accounts", "keypair", other, otherPub)
	code, _, stderr := e2.run(t, "auth", "login", "--username", "ci-bot", "--private-key", other)
	if code != 1 || !strings.Contains(stderr, "The login credentials are invalid.") {
		t.Errorf("login with the wrong key: exit %d, stderr %q", code, stderr)
	}
}

func TestSignServiceLogin(t *testing.T) {
	priv, _, err := rsaKeyPair(2048)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signServiceLogin("sa", priv, timeNowForTest()); err != nil {
		t.Errorf("PKCS#8 key: %v", err)
	}
	if _, err := signServiceLogin("sa", []byte("not a key"), timeNowForTest()); err == nil {
		t.Error("a non-key signed a token")
	}
	block, _ := pem.Decode(priv)
	if block == nil || block.Type != "PRIVATE KEY" {
		t.Errorf("private key PEM type %v, want PRIVATE KEY (PKCS#8)", block)
	}
}

func TestSetupLoginProblems(t *testing.T) {
	fr := newFakeRouter(t, nil, false)
	e := newCLIEnv(t)
	// Needs a login, no credentials, no terminal: say which flags to give.
	code, _, stderr := e.run(t, "cluster", "setup", fr.srv.URL)
	if code != 2 || !strings.Contains(stderr, "--password-file") {
		t.Errorf("no credentials: exit %d, stderr %q", code, stderr)
	}
	// Wrong password: IAM's description.
	e.vars["PW"] = "nope"
	code, _, stderr = e.run(t, "cluster", "setup", fr.srv.URL, "--username", "alice", "--password-env", "PW")
	if code != 1 || !strings.Contains(stderr, `log in as "alice": The login credentials are invalid.`) {
		t.Errorf("wrong password: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = e.run(t, "cluster", "setup", fr.srv.URL, "--username", "alice", "--password", "x", "--password-env", "PW")
	if code != 2 || !strings.Contains(stderr, "only one of") {
		t.Errorf("two password sources: exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "clusters", fr.clusterID)); !os.IsNotExist(err) {
		t.Errorf("a failed setup stored the cluster: %v", err)
	}
	// Not a cluster at all.
	code, _, stderr = e.run(t, "cluster", "setup", fr.srv.URL+"/nothing-here", "--username", "alice", "--password", "wonderland")
	if code != 1 || !strings.Contains(stderr, "does not look like a DC/OS or Basalt cluster") {
		t.Errorf("not a cluster: exit %d, stderr %q", code, stderr)
	}

	// A cluster without auth: no login, no token stored.
	fr.auth = false
	out := e.mustRun(t, "cluster", "setup", fr.srv.URL)
	if !strings.Contains(out, "no login needed") {
		t.Errorf("setup without auth printed %q", out)
	}
	if _, ok := storedConfig(t, e, fr.clusterID).Get("core.dcos_acs_token"); ok {
		t.Error("a token was stored for a cluster without auth")
	}
}

func TestUnauthorizedSaysLogIn(t *testing.T) {
	fc := newFakeCluster(t)
	fr := newFakeRouter(t, fc, false)
	e := setupAlice(t, fr)
	fr.revokeAll()
	code, _, stderr := e.run(t, "node", "list")
	if code != 1 || !strings.Contains(stderr, `run "basalt auth login"`) {
		t.Errorf("node list with a revoked token: exit %d, stderr %q", code, stderr)
	}
	code, _, stderr = e.run(t, "marathon", "app", "list")
	if code != 1 || !strings.Contains(stderr, `"basalt auth login"`) {
		t.Errorf("marathon app list with a revoked token: exit %d, stderr %q", code, stderr)
	}
	e.vars["PW"] = "wonderland"
	e.mustRun(t, "auth", "login", "--username", "alice", "--password-env", "PW")
	e.mustRun(t, "node", "list")

	if out := e.mustRun(t, "auth", "logout"); !strings.Contains(out, "Logged out") {
		t.Errorf("logout printed %q", out)
	}
	if _, ok := storedConfig(t, e, fr.clusterID).Get("core.dcos_acs_token"); ok {
		t.Error("logout left the token")
	}
	if code, _, _ := e.run(t, "node", "list"); code != 1 {
		t.Errorf("node list after logout: exit %d, want 1", code)
	}
}

func TestSetupTLS(t *testing.T) {
	fr := newFakeRouter(t, nil, true)
	pw := writeFile(t, "pw", "wonderland")
	base := []string{"cluster", "setup", fr.srv.URL, "--username", "alice", "--password-file", pw}

	e := newCLIEnv(t)
	code, _, stderr := e.run(t, base...)
	if code != 1 || !strings.Contains(stderr, "--ca-certs") || !strings.Contains(stderr, "certificate") {
		t.Errorf("untrusted certificate: exit %d, stderr %q", code, stderr)
	}

	ca := writeFile(t, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: fr.srv.Certificate().Raw})))
	e.mustRun(t, append(base, "--ca-certs", ca)...)
	sv, _ := storedConfig(t, e, fr.clusterID).Get("core.ssl_verify")
	if want := filepath.Join(e.dir, "clusters", fr.clusterID, "ca.pem"); sv != want {
		t.Errorf("core.ssl_verify %q, want the copy %q", sv, want)
	}
	if err := os.Remove(ca); err != nil { // the copy is what is used from now on
		t.Fatal(err)
	}
	e.mustRun(t, "security", "org", "users", "list")

	e2 := newCLIEnv(t)
	code, _, stderr = e2.run(t, append(base, "--insecure")...)
	if code != 0 || !strings.Contains(stderr, "will not be verified") {
		t.Errorf("--insecure: exit %d, stderr %q (want a warning)", code, stderr)
	}
	if sv, _ := storedConfig(t, e2, fr.clusterID).Get("core.ssl_verify"); sv != "false" {
		t.Errorf("--insecure stored core.ssl_verify %q", sv)
	}
	e2.mustRun(t, "security", "org", "users", "list")

	// TLS flags on an http URL, or both at once, are usage errors.
	plain := newFakeRouter(t, nil, false)
	if code, _, _ := e2.run(t, "cluster", "setup", plain.srv.URL, "--insecure"); code != 2 {
		t.Errorf("--insecure with http: exit %d, want 2", code)
	}
	if code, _, _ := e2.run(t, append(base, "--insecure", "--ca-certs", "x")...); code != 2 {
		t.Errorf("--insecure --ca-certs: exit %d, want 2", code)
	}
}

func TestSetupFollowsRedirect(t *testing.T) {
	fr := newFakeRouter(t, nil, false)
	moved := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, fr.srv.URL+r.URL.RequestURI(), http.StatusMovedPermanently)
	}))
	t.Cleanup(moved.Close)
	e := newCLIEnv(t)
	e.vars["PW"] = "wonderland"
	code, _, stderr := e.run(t, "cluster", "setup", moved.URL, "--username", "alice", "--password-env", "PW")
	if code != 0 || !strings.Contains(stderr, "redirects to "+fr.srv.URL) {
		t.Fatalf("setup through a redirect: exit %d, stderr %q", code, stderr)
	}
	if u, _ := storedConfig(t, e, fr.clusterID).Get("core.dcos_url"); u != fr.srv.URL {
		t.Errorf("stored URL %q, want where the redirect led, %q", u, fr.srv.URL)
	}

	// https never gives way to http: the password would travel in clear.
	downgrade := httptest.NewTLSServer(moved.Config.Handler)
	t.Cleanup(downgrade.Close)
	code, _, stderr = e.run(t, "cluster", "setup", downgrade.URL, "--insecure", "--username", "alice", "--password-env", "PW")
	if code != 1 || !strings.Contains(stderr, "refusing to leave https") {
		t.Errorf("https to http redirect: exit %d, stderr %q", code, stderr)
	}
}

func TestClusterListAttachRenameRemove(t *testing.T) {
	a := newFakeRouter(t, nil, false)
	b := newFakeRouter(t, nil, false)
	b.clusterID, b.name = "0b0b0b0b-2222-4a4a-9b9b-000000000007", "other"
	e := setupAlice(t, a)
	pw := writeFile(t, "pw", "wonderland")
	e.mustRun(t, "cluster", "setup", b.srv.URL, "--username", "alice", "--password-file", pw, "--name", "staging")

	list := func() []clusterJSON {
		t.Helper()
		var got []clusterJSON
		if err := json.Unmarshal([]byte(e.mustRun(t, "cluster", "list", "--json")), &got); err != nil {
			t.Fatal(err)
		}
		return got
	}
	want := []clusterJSON{
		{Name: "fake-cluster", ClusterID: a.clusterID, URL: a.srv.URL},
		{Name: "staging", ClusterID: b.clusterID, URL: b.srv.URL, Attached: true},
	}
	if diff := cmp.Diff(want, list()); diff != "" {
		t.Errorf("after two setups (-want +got):\n%s", diff)
	}
	table := e.mustRun(t, "cluster", "list")
	if !strings.Contains(table, "staging*") || strings.Contains(table, "fake-cluster*") {
		t.Errorf("table does not mark the attached cluster:\n%s", table)
	}

	e.mustRun(t, "cluster", "attach", "fake-cluster")
	e.mustRun(t, "cluster", "rename", "fake-cluster", "prod")
	if code, _, _ := e.run(t, "cluster", "rename", "prod", "staging"); code == 0 {
		t.Error("renamed a cluster to another's name")
	}
	want[0].Name, want[0].Attached, want[1].Attached = "prod", true, false
	if diff := cmp.Diff(want, list()); diff != "" {
		t.Errorf("after attach and rename (-want +got):\n%s", diff)
	}
	// Commands follow the attached cluster.
	e.mustRun(t, "security", "org", "users", "list")
	if len(a.recorded("/acs/api/v1/users")) != 1 || len(b.recorded("/acs/api/v1/users")) != 0 {
		t.Error("users list did not go to the attached cluster only")
	}

	e.mustRun(t, "cluster", "remove", "staging")
	if diff := cmp.Diff(want[:1], list()); diff != "" {
		t.Errorf("after remove (-want +got):\n%s", diff)
	}
	if code, _, _ := e.run(t, "cluster", "attach", "staging"); code != 1 {
		t.Errorf("attach of a removed cluster: exit %d", code)
	}
	e.mustRun(t, "cluster", "remove", "--all")
	if got := list(); len(got) != 0 {
		t.Errorf("after remove --all: %+v", got)
	}
	if code, _, stderr := e.run(t, "config", "show"); code != 1 || !strings.Contains(stderr, "no cluster is attached") {
		t.Errorf("config show without a cluster: exit %d, %q", code, stderr)
	}
}

func TestConfigShowSet(t *testing.T) {
	fc := newFakeCluster(t)
	fr := newFakeRouter(t, fc, false)
	e := setupAlice(t, fr)
	tok, _ := storedConfig(t, e, fr.clusterID).Get("core.dcos_acs_token")

	out := e.mustRun(t, "config", "show")
	if strings.Contains(out, tok) || !strings.Contains(out, "core.dcos_acs_token  ********") {
		t.Errorf("config show does not mask the token:\n%s", out)
	}
	if got := e.mustRun(t, "config", "show", "core.dcos_acs_token"); got != tok+"\n" {
		t.Errorf("config show core.dcos_acs_token = %q, want the token", got)
	}
	e.mustRun(t, "config", "set", "core.timeout", "7")
	if got := e.mustRun(t, "config", "show", "core.timeout"); got != "7\n" {
		t.Errorf("core.timeout = %q", got)
	}
	for _, bad := range [][]string{
		{"core.timeout", "soon"},
		{"core.dcos_url", "ftp://x"},
		{"core.ssl_verify", "/no/such/ca.pem"},
		{"core.unknown", "1"},
	} {
		if code, _, _ := e.run(t, append([]string{"config", "set"}, bad...)...); code != 2 {
			t.Errorf("config set %v: exit %d, want 2", bad, code)
		}
	}
	// core.mesos_master_url redirects the master API; a bad one is used and fails.
	e.mustRun(t, "config", "set", "core.mesos_master_url", fc.leader.URL)
	viaRouter := len(fr.recorded("/mesos/")) // setup's state-summary
	e.mustRun(t, "node", "list")
	if n := len(fr.recorded("/mesos/")) - viaRouter; n != 0 {
		t.Errorf("%d requests went to /mesos/ despite core.mesos_master_url", n)
	}
	e.mustRun(t, "config", "unset", "core.mesos_master_url")
	e.mustRun(t, "node", "list")
	if n := len(fr.recorded("/mesos/")) - viaRouter; n == 0 {
		t.Error("after unset, node list did not go through /mesos/")
	}
	if code, _, _ := e.run(t, "config", "unset", "core.mesos_master_url"); code != 1 {
		t.Errorf("unset of an unset key: exit %d, want 1", code)
	}

	// A cluster.toml others can read is refused, with the fix.
	path := filepath.Join(e.dir, "clusters", fr.clusterID, "cluster.toml")
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := e.run(t, "node", "list")
	if code != 1 || !strings.Contains(stderr, "chmod 600 "+path) {
		t.Errorf("node list with a 0644 cluster.toml: exit %d, stderr %q", code, stderr)
	}
}

func TestAuthListProviders(t *testing.T) {
	fr := newFakeRouter(t, nil, false)
	e := setupAlice(t, fr)
	out := e.mustRun(t, "auth", "list-providers")
	want := "PROVIDER ID    AUTHENTICATION TYPE\n" +
		"dcos-services  Log in as a service account with its private key\n" +
		"dcos-users     Log in with a username and password\n"
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("list-providers (-want +got):\n%s", diff)
	}
	var js map[string]loginProvider
	if err := json.Unmarshal([]byte(e.mustRun(t, "auth", "list-providers", "--json", fr.srv.URL)), &js); err != nil || js["dcos-users"].ClientMethod != "dcos-usercredential-post-receive-authtoken" {
		t.Errorf("list-providers --json: %v %+v", err, js)
	}
}

func TestSecurityOrg(t *testing.T) {
	fr := newFakeRouter(t, nil, false)
	e := setupAlice(t, fr)
	e.vars["PW"] = "s3cret"
	e.mustRun(t, "security", "org", "users", "create", "bob", "--password-env", "PW", "--description", "Bob")
	if code, _, stderr := e.run(t, "security", "org", "users", "create", "bob", "--password-env", "PW"); code != 1 || !strings.Contains(stderr, "already exists") {
		t.Errorf("second create: exit %d, %q", code, stderr)
	}
	out := e.mustRun(t, "security", "org", "users", "list")
	want := "UID    DESCRIPTION  PROVIDER\nalice  Alice        internal\nbob    Bob          internal\n"
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("users list (-want +got):\n%s", diff)
	}
	// bob can log in with the password he was given.
	e2 := newCLIEnv(t)
	e2.vars["PW"] = "s3cret"
	e2.mustRun(t, "cluster", "setup", fr.srv.URL, "--username", "bob", "--password-env", "PW")

	e.mustRun(t, "security", "org", "groups", "create", "ops")
	e.mustRun(t, "security", "org", "groups", "add_user", "ops", "bob")
	fr.mu.Lock()
	members := fr.groups["ops"]
	fr.mu.Unlock()
	if diff := cmp.Diff([]string{"bob"}, members); diff != "" {
		t.Errorf("group members (-want +got):\n%s", diff)
	}
	if out := e.mustRun(t, "security", "org", "groups", "list"); !strings.Contains(out, "ops") {
		t.Errorf("groups list:\n%s", out)
	}
	e.mustRun(t, "security", "org", "groups", "delete", "ops")
	e.mustRun(t, "security", "org", "users", "delete", "bob")
	code, _, stderr := e.run(t, "security", "org", "users", "delete", "bob")
	if code != 1 || !strings.Contains(stderr, "User with uid `bob` not known.") {
		t.Errorf("delete of a deleted user: exit %d, %q", code, stderr)
	}
	for _, r := range fr.recorded("/acs/api/v1/") {
		if !strings.HasPrefix(r.Path, "/acs/api/v1/auth/") && !strings.HasPrefix(r.Auth, "token=") {
			t.Errorf("%s %s sent without a token", r.Method, r.Path)
		}
	}
}

func timeNowForTest() time.Time { return time.Now() }
