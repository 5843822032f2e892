package iam

import "net/http"

// Handler serves the IAM API relative to /acs/api/v1 (Admin Router strips the
// prefix and keeps r.URL.RawPath, so that a resource id with an encoded "/"
// stays one path segment). /auth/* needs no principal; every other route needs
// the Principal that WithPrincipal put in the request context, allowed on
// dcos:superuser or on the route's dcos:iam:* resource.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	// Login and discovery: no principal.
	mux.HandleFunc("POST /auth/login", s.handleLogin)
	mux.HandleFunc("GET /auth/logout", s.handleLogout)
	mux.HandleFunc("POST /auth/logout", s.handleLogout)
	mux.HandleFunc("GET /auth/jwks", s.handleJWKS)
	mux.HandleFunc("GET /auth/providers", s.handleProviders)

	// Users and service accounts (resource dcos:iam:users).
	users := s.guard(ridUsers)
	mux.Handle("GET /users", users(s.handleListUsers))
	mux.Handle("GET /users/{uid}", s.guardSelf(ridUsers, s.handleGetUser))
	mux.Handle("PUT /users/{uid}", users(s.handleCreateUser))
	mux.Handle("PATCH /users/{uid}", users(s.handleUpdateUser))
	mux.Handle("DELETE /users/{uid}", users(s.handleDeleteUser))
	mux.Handle("GET /users/{uid}/groups", s.guardSelf(ridUsers, s.handleUserGroups))
	mux.Handle("GET /users/{uid}/permissions", s.guardSelf(ridUsers, s.handleUserPermissions))

	// Groups (dcos:iam:groups).
	groups := s.guard(ridGroups)
	mux.Handle("GET /groups", groups(s.handleListGroups))
	mux.Handle("GET /groups/{gid}", groups(s.handleGetGroup))
	mux.Handle("PUT /groups/{gid}", groups(s.handleCreateGroup))
	mux.Handle("PATCH /groups/{gid}", groups(s.handleUpdateGroup))
	mux.Handle("DELETE /groups/{gid}", groups(s.handleDeleteGroup))
	mux.Handle("GET /groups/{gid}/users", groups(s.handleGroupUsers))
	mux.Handle("PUT /groups/{gid}/users/{uid}", groups(s.handleAddMember))
	mux.Handle("DELETE /groups/{gid}/users/{uid}", groups(s.handleRemoveMember))
	mux.Handle("GET /groups/{gid}/permissions", groups(s.handleGroupPermissions))

	// ACLs and grants (dcos:iam:acls).
	acls := s.guard(ridACLs)
	mux.Handle("GET /acls", acls(s.handleListACLs))
	mux.Handle("GET /acls/{rid}", acls(s.handleGetACL))
	mux.Handle("PUT /acls/{rid}", acls(s.handleCreateACL))
	mux.Handle("PATCH /acls/{rid}", acls(s.handleUpdateACL))
	mux.Handle("DELETE /acls/{rid}", acls(s.handleDeleteACL))
	mux.Handle("GET /acls/{rid}/permissions", acls(s.handleACLPermissions))
	for _, kind := range []string{"users", "groups"} {
		sub := "/acls/{rid}/" + kind + "/{subject}"
		mux.Handle("GET "+sub, acls(s.handleSubjectActions(kind)))
		mux.Handle("DELETE "+sub, acls(s.handleRevoke(kind, false)))
		mux.Handle("GET "+sub+"/{action}", acls(s.handleCheck(kind)))
		mux.Handle("PUT "+sub+"/{action}", acls(s.handleGrant(kind)))
		mux.Handle("DELETE "+sub+"/{action}", acls(s.handleRevoke(kind, true)))
	}
	return mux
}

// Resources that guard the management API, as DC/OS EE names them.
const (
	ridUsers  = "dcos:iam:users"
	ridGroups = "dcos:iam:groups"
	ridACLs   = "dcos:iam:acls"
)
