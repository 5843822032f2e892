package iam

import (
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestUsersAPI(t *testing.T) {
	f := newFixture(t)
	key := newRSAKey(t)

	f.want(f.do(f.root, "PUT", "/users/alice", map[string]string{"description": "Alice", "password": "alice-pw"}), 201)
	f.want(f.do(f.root, "PUT", "/users/ci-bot", map[string]string{"description": "CI", "public_key": publicPEM(t, key)}), 201)
	r := f.do(f.root, "PUT", "/users/alice", map[string]string{"password": "again"})
	f.want(r, 409)
	if e := r.apiErr(t); e.Code != "ERR_USER_EXISTS" {
		t.Errorf("code %s", e.Code)
	}

	var u userJSON
	r = f.do(f.root, "GET", "/users/alice", nil)
	f.want(r, 200)
	r.json(t, &u)
	want := userJSON{UID: "alice", URL: "/acs/api/v1/users/alice", Description: "Alice", ProviderType: "internal"}
	if diff := cmp.Diff(want, u); diff != "" {
		t.Errorf("GET /users/alice (-want +got):\n%s", diff)
	}
	if string(r.body) == "" || strings.Contains(string(r.body), "password") || strings.Contains(string(r.body), "argon2") {
		t.Errorf("user body leaks the hash: %s", r.body)
	}

	var list arrayOf[userJSON]
	f.do(f.root, "GET", "/users", nil).json(t, &list)
	if got := uids(list.Array); !cmp.Equal(got, []string{"alice", "root"}) {
		t.Errorf("GET /users: %v", got)
	}
	f.do(f.root, "GET", "/users?type=service", nil).json(t, &list)
	if len(list.Array) != 1 || list.Array[0].UID != "ci-bot" || !list.Array[0].IsService || list.Array[0].PublicKey == "" {
		t.Errorf("GET /users?type=service: %+v", list.Array)
	}

	// PATCH changes the description and the password.
	f.want(f.do(f.root, "PATCH", "/users/alice", map[string]string{"description": "Alice A.", "password": "new-pw-1"}), 204)
	f.do(f.root, "GET", "/users/alice", nil).json(t, &u)
	if u.Description != "Alice A." {
		t.Errorf("description %q after PATCH", u.Description)
	}
	f.want(f.login("192.0.2.50:1", map[string]string{"uid": "alice", "password": "alice-pw"}), 401)
	f.want(f.login("192.0.2.50:1", map[string]string{"uid": "alice", "password": "new-pw-1"}), 200)
	f.want(f.do(f.root, "PATCH", "/users/ci-bot", map[string]string{"password": "nope-nope"}), 400)
	f.want(f.do(f.root, "PATCH", "/users/ghost", map[string]string{"description": "x"}), 404)

	// Bad input: 400 with a body that says what is wrong.
	for name, c := range map[string]struct {
		path string
		body any
	}{
		"upper case uid":    {"/users/Alice", map[string]string{"password": "pw-pw-pw"}},
		"uid with a space":  {"/users/a%20b", map[string]string{"password": "pw-pw-pw"}},
		"one-letter uid":    {"/users/a", map[string]string{"password": "pw-pw-pw"}},
		"no credential":     {"/users/bob", map[string]string{"description": "x"}},
		"both credentials":  {"/users/bob", map[string]string{"password": "pw-pw-pw", "public_key": publicPEM(t, key)}},
		"bad public key":    {"/users/bob", map[string]string{"public_key": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"}},
		"short password":    {"/users/bob", map[string]string{"password": "pw"}},
		"unknown field":     {"/users/bob", map[string]string{"password": "pw-pw-pw", "role": "admin"}},
		"not JSON":          {"/users/bob", "{password"},
		"remote provider":   {"/users/bob", map[string]string{"password": "pw-pw-pw", "provider_type": "ldap"}},
		"two JSON values":   {"/users/bob", `{"password":"pw-pw-pw"} {}`},
		"password too long": {"/users/bob", map[string]string{"password": string(make([]byte, maxPasswordLen+1))}},
	} {
		t.Run(name, func(t *testing.T) {
			f.t = t
			r := f.do(f.root, "PUT", c.path, c.body)
			f.want(r, 400)
			if e := r.apiErr(t); e.Code != "ERR_INVALID_DATA" {
				t.Errorf("code %s", e.Code)
			}
		})
	}
	f.t = t

	f.want(f.do(f.root, "DELETE", "/users/alice", nil), 204)
	r = f.do(f.root, "GET", "/users/alice", nil)
	f.want(r, 404)
	if e := r.apiErr(t); e.Code != "ERR_UNKNOWN_USER_ID" {
		t.Errorf("code %s", e.Code)
	}
	f.want(f.do(f.root, "DELETE", "/users/alice", nil), 404)
}

func TestManagementNeedsPermission(t *testing.T) {
	f := newFixture(t)
	f.want(f.do(f.root, "PUT", "/users/alice", map[string]string{"password": "alice-pw"}), 201)
	alice := Principal{UID: "alice"}

	r := f.do(Principal{}, "GET", "/users", nil)
	f.want(r, 401)
	if r.header.Get("WWW-Authenticate") != "acsjwt" || r.apiErr(t).Code != "ERR_MISSING_AUTH_TOKEN" {
		t.Errorf("401 %v %s", r.header, r.body)
	}
	for _, c := range []struct{ method, path string }{
		{"GET", "/users"}, {"PUT", "/users/bob"}, {"DELETE", "/users/root"}, {"GET", "/users/root"},
		{"GET", "/groups"}, {"PUT", "/groups/ops"}, {"GET", "/acls"},
		{"PUT", "/acls/dcos:superuser/users/alice/full"},
	} {
		r := f.do(alice, c.method, c.path, map[string]string{"password": "pw-pw-pw"})
		f.want(r, 403)
		if r.apiErr(t).Code != "ERR_FORBIDDEN" {
			t.Errorf("%s %s: %s", c.method, c.path, r.body)
		}
	}
	// Everyone reads themselves.
	f.want(f.do(alice, "GET", "/users/alice", nil), 200)
	f.want(f.do(alice, "GET", "/users/alice/permissions", nil), 200)
	f.want(f.do(alice, "GET", "/users/alice/groups", nil), 200)

	// dcos:iam:users read lets alice list users but not create them.
	f.want(f.do(f.root, "PUT", "/acls/dcos:iam:users/users/alice/read", nil), 204)
	f.want(f.do(alice, "GET", "/users", nil), 200)
	f.want(f.do(alice, "PUT", "/users/bob", map[string]string{"password": "pw-pw-pw"}), 403)
	// full covers create; the auth routes never need a principal.
	f.want(f.do(f.root, "PUT", "/acls/dcos:iam:users/users/alice/full", nil), 204)
	f.want(f.do(alice, "PUT", "/users/bob", map[string]string{"password": "pw-pw-pw"}), 201)
	f.want(f.do(Principal{}, "GET", "/auth/providers", nil), 200)
	f.want(f.do(Principal{}, "GET", "/auth/jwks", nil), 200)
}

func TestGroupsAPI(t *testing.T) {
	f := newFixture(t)
	f.want(f.do(f.root, "PUT", "/users/alice", map[string]string{"password": "alice-pw"}), 201)
	f.want(f.do(f.root, "PUT", "/groups/ops", map[string]string{"description": "Operators"}), 201)
	r := f.do(f.root, "PUT", "/groups/ops", map[string]string{"description": "again"})
	f.want(r, 409)
	if r.apiErr(t).Code != "ERR_GROUP_EXISTS" {
		t.Errorf("409 %s", r.body)
	}
	f.want(f.do(f.root, "PUT", "/groups/Bad%20Group", map[string]string{"description": "x"}), 400)

	var g groupJSON
	f.do(f.root, "GET", "/groups/ops", nil).json(t, &g)
	if diff := cmp.Diff(groupJSON{GID: "ops", URL: "/acs/api/v1/groups/ops", Description: "Operators", ProviderType: "internal"}, g); diff != "" {
		t.Errorf("GET /groups/ops (-want +got):\n%s", diff)
	}
	f.want(f.do(f.root, "PATCH", "/groups/ops", map[string]string{"description": "Ops team"}), 204)
	f.want(f.do(f.root, "PATCH", "/groups/ops", map[string]string{}), 400)
	f.want(f.do(f.root, "PATCH", "/groups/nope", map[string]string{"description": "x"}), 404)

	f.want(f.do(f.root, "PUT", "/groups/ops/users/alice", nil), 204)
	f.want(f.do(f.root, "PUT", "/groups/ops/users/ghost", nil), 404)
	f.want(f.do(f.root, "PUT", "/groups/nope/users/alice", nil), 404)
	var members arrayOf[struct {
		MembershipURL string   `json:"membershipurl"`
		User          userJSON `json:"user"`
	}]
	f.do(f.root, "GET", "/groups/ops/users", nil).json(t, &members)
	if len(members.Array) != 1 || members.Array[0].User.UID != "alice" || members.Array[0].MembershipURL != "/acs/api/v1/groups/ops/users/alice" {
		t.Errorf("members %+v", members)
	}

	// A group's grant reaches its members.
	alice := Principal{UID: "alice"}
	if f.svc.Allowed(alice, "dcos:adminrouter:service:marathon", "read") {
		t.Fatal("allowed before any grant")
	}
	f.want(f.do(f.root, "PUT", "/acls/dcos:adminrouter:service:marathon/groups/ops/full", nil), 204)
	if !f.svc.Allowed(alice, "dcos:adminrouter:service:marathon", "read") {
		t.Fatal("group's full grant does not reach its member")
	}
	var perms struct {
		Direct []permissionJSON `json:"direct"`
		Groups []permissionJSON `json:"groups"`
	}
	f.do(f.root, "GET", "/users/alice/permissions", nil).json(t, &perms)
	wantGroups := []permissionJSON{{
		RID: "dcos:adminrouter:service:marathon", GID: "ops", ACLURL: "/acs/api/v1/acls/dcos:adminrouter:service:marathon",
		MembershipURL: "/acs/api/v1/groups/ops/users/alice",
		Actions:       []actionJSON{{Name: "full", URL: "/acs/api/v1/acls/dcos:adminrouter:service:marathon/groups/ops/full"}},
	}}
	if len(perms.Direct) != 0 || !cmp.Equal(wantGroups, perms.Groups) {
		t.Errorf("permissions: %s", cmp.Diff(wantGroups, perms.Groups))
	}
	var gperms arrayOf[permissionJSON]
	f.do(f.root, "GET", "/groups/ops/permissions", nil).json(t, &gperms)
	if len(gperms.Array) != 1 || gperms.Array[0].RID != "dcos:adminrouter:service:marathon" {
		t.Errorf("group permissions %+v", gperms)
	}

	// Leaving the group drops the permission; deleting the group drops its grants.
	f.want(f.do(f.root, "DELETE", "/groups/ops/users/alice", nil), 204)
	f.want(f.do(f.root, "DELETE", "/groups/ops/users/alice", nil), 404)
	if f.svc.Allowed(alice, "dcos:adminrouter:service:marathon", "read") {
		t.Fatal("allowed after leaving the group")
	}
	f.want(f.do(f.root, "PUT", "/groups/ops/users/alice", nil), 204)
	f.want(f.do(f.root, "DELETE", "/groups/ops", nil), 204)
	f.want(f.do(f.root, "GET", "/groups/ops", nil), 404)
	if f.svc.Allowed(alice, "dcos:adminrouter:service:marathon", "read") {
		t.Fatal("allowed after the group was deleted")
	}
	// Re-creating the group does not bring its old members or grants back.
	f.want(f.do(f.root, "PUT", "/groups/ops", nil), 201)
	f.do(f.root, "GET", "/groups/ops/users", nil).json(t, &members)
	if len(members.Array) != 0 || f.svc.Allowed(alice, "dcos:adminrouter:service:marathon", "read") {
		t.Fatalf("re-created group kept %+v", members)
	}
	var groups arrayOf[groupJSON]
	f.do(f.root, "GET", "/groups", nil).json(t, &groups)
	if len(groups.Array) != 1 || groups.Array[0].GID != "ops" {
		t.Errorf("groups %+v", groups)
	}
}

func TestACLsAPI(t *testing.T) {
	f := newFixture(t)
	f.want(f.do(f.root, "PUT", "/users/alice", map[string]string{"password": "alice-pw"}), 201)
	alice := Principal{UID: "alice"}
	const rid = "dcos:adminrouter:service:marathon"
	base := "/acls/" + rid

	f.want(f.do(f.root, "PUT", base, map[string]string{"description": "Marathon UI"}), 201)
	r := f.do(f.root, "PUT", base, map[string]string{"description": "again"})
	f.want(r, 409)
	if r.apiErr(t).Code != "ERR_ACL_EXISTS" {
		t.Errorf("409 %s", r.body)
	}
	var acl aclJSON
	f.do(f.root, "GET", base, nil).json(t, &acl)
	if diff := cmp.Diff(aclJSON{RID: rid, URL: "/acs/api/v1/acls/" + rid, Description: "Marathon UI"}, acl); diff != "" {
		t.Errorf("GET acl (-want +got):\n%s", diff)
	}
	f.want(f.do(f.root, "PATCH", base, map[string]string{"description": "Marathon"}), 204)

	check := func(path string) bool {
		t.Helper()
		var out struct {
			Allowed *bool `json:"allowed"`
		}
		r := f.do(f.root, "GET", path, nil)
		f.want(r, 200)
		r.json(t, &out)
		if out.Allowed == nil {
			t.Fatalf("no allowed in %s", r.body)
		}
		return *out.Allowed
	}
	if check(base + "/users/alice/read") {
		t.Fatal("allowed before the grant")
	}
	f.want(f.do(f.root, "PUT", base+"/users/alice/read", nil), 204)
	if !check(base+"/users/alice/read") || check(base+"/users/alice/full") || check(base+"/users/alice/update") {
		t.Fatal("read grant checks wrong")
	}
	if !f.svc.Allowed(alice, rid, "read") || f.svc.Allowed(alice, rid, "delete") || f.svc.Allowed(alice, rid+":x", "read") {
		t.Fatal("Allowed disagrees with the read grant")
	}
	f.want(f.do(f.root, "PUT", base+"/users/alice/full", nil), 204)
	for _, a := range []string{"create", "read", "update", "delete", "full"} {
		if !f.svc.Allowed(alice, rid, a) || !check(base+"/users/alice/"+a) {
			t.Errorf("full does not cover %s", a)
		}
	}
	var actions arrayOf[actionJSON]
	f.do(f.root, "GET", base+"/users/alice", nil).json(t, &actions)
	if diff := cmp.Diff([]actionJSON{
		{Name: "full", URL: "/acs/api/v1/acls/" + rid + "/users/alice/full"},
		{Name: "read", URL: "/acs/api/v1/acls/" + rid + "/users/alice/read"},
	}, actions.Array); diff != "" {
		t.Errorf("actions (-want +got):\n%s", diff)
	}
	var aclPerms struct {
		Users  []map[string]any `json:"users"`
		Groups []map[string]any `json:"groups"`
	}
	f.do(f.root, "GET", base+"/permissions", nil).json(t, &aclPerms)
	if len(aclPerms.Users) != 1 || aclPerms.Users[0]["uid"] != "alice" || aclPerms.Users[0]["userurl"] != "/acs/api/v1/users/alice" || len(aclPerms.Groups) != 0 {
		t.Errorf("ACL permissions %+v", aclPerms)
	}

	f.want(f.do(f.root, "DELETE", base+"/users/alice/full", nil), 204)
	if f.svc.Allowed(alice, rid, "update") || !f.svc.Allowed(alice, rid, "read") {
		t.Fatal("revoking full changed the wrong grant")
	}
	f.want(f.do(f.root, "DELETE", base+"/users/alice", nil), 204)
	if f.svc.Allowed(alice, rid, "read") {
		t.Fatal("revoking all left read")
	}

	// A rid with "/" (Marathon groups) travels URL-encoded as one segment; a
	// grant creates the ACL it needs.
	const grid = "dcos:service:marathon:marathon:services:/prod/web"
	f.want(f.do(f.root, "PUT", "/acls/"+url.PathEscape(grid)+"/users/alice/read", nil), 204)
	if !f.svc.Allowed(alice, grid, "read") {
		t.Fatal("grant on a rid with slashes")
	}
	var all arrayOf[aclJSON]
	f.do(f.root, "GET", "/acls", nil).json(t, &all)
	var rids []string
	for _, a := range all.Array {
		rids = append(rids, a.RID)
	}
	if diff := cmp.Diff([]string{rid, grid, SuperuserRID}, rids); diff != "" {
		t.Errorf("ACL list (-want +got):\n%s", diff)
	}
	// Deleting the ACL drops its grants.
	f.want(f.do(f.root, "DELETE", "/acls/"+url.PathEscape(grid), nil), 204)
	if f.svc.Allowed(alice, grid, "read") {
		t.Fatal("grant survived its ACL")
	}

	// Errors.
	for _, c := range []struct {
		method, path string
		code         int
		errCode      string
	}{
		{"GET", "/acls/dcos:nope", 404, "ERR_UNKNOWN_RESOURCE_ID"},
		{"DELETE", "/acls/dcos:nope", 404, "ERR_UNKNOWN_RESOURCE_ID"},
		{"PATCH", "/acls/dcos:nope", 404, "ERR_UNKNOWN_RESOURCE_ID"},
		{"DELETE", "/acls/dcos:nope/users/alice/read", 404, "ERR_UNKNOWN_RESOURCE_ID"},
		{"PUT", base + "/users/ghost/read", 404, "ERR_UNKNOWN_USER_ID"},
		{"PUT", base + "/groups/ghosts/read", 404, "ERR_UNKNOWN_GROUP_ID"},
		{"GET", base + "/users/ghost/read", 404, "ERR_UNKNOWN_USER_ID"},
		{"PUT", base + "/users/alice/admin", 400, "ERR_INVALID_DATA"},
		{"GET", base + "/users/alice/admin", 400, "ERR_INVALID_DATA"},
		{"PUT", "/acls/has%20space", 400, "ERR_INVALID_DATA"},
		{"DELETE", "/acls/dcos:superuser", 400, "ERR_INVALID_DATA"},
		{"PUT", "/acls/has%20space/users/alice/read", 400, "ERR_INVALID_DATA"},
	} {
		r := f.do(f.root, c.method, c.path, map[string]string{"description": "d"})
		if r.code != c.code || r.apiErr(t).Code != c.errCode {
			t.Errorf("%s %s = %d %s, want %d %s", c.method, c.path, r.code, r.body, c.code, c.errCode)
		}
	}
}

// TestDeleteUserDropsGrants: a user re-created under a deleted uid starts with
// no permissions and no groups.
func TestDeleteUserDropsGrants(t *testing.T) {
	f := newFixture(t)
	f.want(f.do(f.root, "PUT", "/users/alice", map[string]string{"password": "alice-pw"}), 201)
	f.want(f.do(f.root, "PUT", "/groups/ops", nil), 201)
	f.want(f.do(f.root, "PUT", "/groups/ops/users/alice", nil), 204)
	f.want(f.do(f.root, "PUT", "/acls/dcos:superuser/users/alice/full", nil), 204)
	f.want(f.do(f.root, "PUT", "/acls/dcos:adminrouter:package/groups/ops/full", nil), 204)
	if p, _ := f.svc.VerifyToken(mustToken(t, f.svc, "alice")); !p.Superuser {
		t.Fatal("alice not superuser after the grant")
	}
	f.want(f.do(f.root, "DELETE", "/users/alice", nil), 204)
	f.want(f.do(f.root, "PUT", "/users/alice", map[string]string{"password": "alice-pw"}), 201)
	alice := Principal{UID: "alice"}
	if f.svc.Allowed(alice, SuperuserRID, "full") || f.svc.Allowed(alice, "dcos:adminrouter:package", "read") {
		t.Fatal("re-created user inherited grants")
	}
}

func TestProviders(t *testing.T) {
	f := newFixture(t)
	var got map[string]loginProvider
	r := f.do(Principal{}, "GET", "/auth/providers", nil)
	f.want(r, 200)
	r.json(t, &got)
	cfg := map[string]string{"start_flow_url": "/acs/api/v1/auth/login"}
	want := map[string]loginProvider{
		"dcos-users": {AuthenticationType: "dcos-uid-password", ClientMethod: "dcos-usercredential-post-receive-authtoken",
			Config: cfg, Description: "Default DC/OS login provider"},
		"dcos-services": {AuthenticationType: "dcos-uid-servicekey", ClientMethod: "dcos-servicecredential-post-receive-authtoken",
			Config: cfg, Description: "Default DC/OS login provider"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("providers (-want +got):\n%s", diff)
	}
}

func mustToken(t *testing.T, s *Service, uid string) string {
	t.Helper()
	tok, err := s.IssueToken(uid)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func uids(us []userJSON) []string {
	out := []string{}
	for _, u := range us {
		out = append(out, u.UID)
	}
	return out
}
