package iam

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/basalt-dcos/basalt/internal/ratelimit"
	"github.com/basalt-dcos/basalt/internal/store"
	"github.com/golang-jwt/jwt/v5"
)

// apiPrefix is where Admin Router mounts Handler; URLs in bodies use it.
const apiPrefix = "/acs/api/v1"

// maxBodyBytes bounds request bodies (a public key is the largest field).
const maxBodyBytes = 64 << 10

// apiError is the DC/OS IAM error body.
type apiError struct {
	Title       string `json:"title"`
	Description string `json:"description"`
	Code        string `json:"code"`
}

// errorTable maps domain errors to status, title and code: the one place where
// errors become HTTP.
var errorTable = []struct { // read-only
	err    error
	status int
	title  string
	code   string
}{
	{errUnknownUser, http.StatusNotFound, "Not Found", "ERR_UNKNOWN_USER_ID"},
	{errUnknownGroup, http.StatusNotFound, "Not Found", "ERR_UNKNOWN_GROUP_ID"},
	{errUnknownACL, http.StatusNotFound, "Not Found", "ERR_UNKNOWN_RESOURCE_ID"},
	{errUserExists, http.StatusConflict, "Conflict", "ERR_USER_EXISTS"},
	{errGroupExists, http.StatusConflict, "Conflict", "ERR_GROUP_EXISTS"},
	{errACLExists, http.StatusConflict, "Conflict", "ERR_ACL_EXISTS"},
	{store.ErrConflict, http.StatusConflict, "Conflict", "ERR_CONFLICT"},
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeAPIError(w http.ResponseWriter, status int, title, description, code string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", "acsjwt")
	}
	writeJSON(w, status, apiError{Title: title, Description: description, Code: code})
}

// fail answers err: bad input and known domain errors with their code, anything
// else 500 with the detail in the log only.
func (s *Service) fail(w http.ResponseWriter, r *http.Request, err error) {
	var inv *invalidError
	if errors.As(err, &inv) {
		writeAPIError(w, http.StatusBadRequest, "Bad Request", inv.msg, "ERR_INVALID_DATA")
		return
	}
	for _, e := range errorTable {
		if errors.Is(err, e.err) {
			writeAPIError(w, e.status, e.title, capitalize(err.Error()), e.code)
			return
		}
	}
	s.log.Error("IAM request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	writeAPIError(w, http.StatusInternalServerError, "Internal Server Error",
		"The IAM could not complete the request; the master's log has the cause.", "ERR_INTERNAL")
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// decode reads a JSON body into v: at most maxBodyBytes, no unknown fields, one
// value. An empty body decodes as {}.
func decode(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return invalid("read request body: %v", err)
	}
	return decodeBytes(body, v, true)
}

func decodeBytes(body []byte, v any, strict bool) error {
	if len(body) > maxBodyBytes {
		return invalid("request body larger than %d bytes", maxBodyBytes)
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return invalid("request body is not the expected JSON object: %v", err)
	}
	if dec.More() {
		return invalid("request body has data after the JSON object")
	}
	return nil
}

// ---- authorization of management routes ----

// guard wraps h so that it runs only for a principal allowed on rid with the
// action the method implies (GET read, PUT create, PATCH update, DELETE delete;
// "full" or dcos:superuser covers all).
func (s *Service) guard(rid string) func(http.HandlerFunc) http.Handler {
	return func(h http.HandlerFunc) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, ok := PrincipalFrom(r.Context())
			if !ok {
				writeAPIError(w, http.StatusUnauthorized, "Unauthorized",
					"Authentication required: send Authorization: token=<DC/OS auth token>.", "ERR_MISSING_AUTH_TOKEN")
				return
			}
			if !s.Allowed(p, rid, methodAction(r.Method)) {
				writeAPIError(w, http.StatusForbidden, "Forbidden",
					fmt.Sprintf("%s may not %s %s.", p.UID, methodAction(r.Method), rid), "ERR_FORBIDDEN")
				return
			}
			h(w, r)
		})
	}
}

// guardSelf is guard, except that an account may always read itself.
func (s *Service) guardSelf(rid string, h http.HandlerFunc) http.Handler {
	guarded := s.guard(rid)(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := PrincipalFrom(r.Context()); ok && p.UID == r.PathValue("uid") {
			h(w, r)
			return
		}
		guarded.ServeHTTP(w, r)
	})
}

func methodAction(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead:
		return ActionRead
	case http.MethodPut, http.MethodPost:
		return ActionCreate
	case http.MethodPatch:
		return ActionUpdate
	case http.MethodDelete:
		return ActionDelete
	}
	return ActionFull
}

// fresh re-reads the state so that a management read sees every write made on
// any master before it.
func (s *Service) fresh(ctx context.Context) (*snapshot, error) {
	if _, err := s.reload(ctx); err != nil {
		return nil, err
	}
	return s.snap.Load(), nil
}

// ---- /auth ----

// loginRequest is the body of POST /auth/login.
type loginRequest struct {
	UID      string `json:"uid"`
	Password string `json:"password"`
	Token    string `json:"token"`
}

// decodeLogin parses a login body: a uid with either a password (a user) or a
// service login token (a service account).
func decodeLogin(body []byte) (loginRequest, error) {
	var req loginRequest
	// Unknown fields are ignored: older clients send extra ones.
	if err := decodeBytes(body, &req, false); err != nil {
		return req, err
	}
	switch {
	case req.UID == "" && req.Token != "":
		return req, invalid("OpenID Connect id tokens are not supported: log in with uid and password, or uid and a service login token")
	case req.UID == "":
		return req, invalid("uid is required")
	case req.Password != "" && req.Token != "":
		return req, invalid("give either password or token, not both")
	case req.Password == "" && req.Token == "":
		return req, invalid("password or token is required")
	case len(req.UID) > maxIDLen:
		return req, invalid("uid longer than %d characters", maxIDLen)
	}
	return req, nil
}

func (s *Service) handleLogin(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		s.fail(w, r, invalid("read request body: %v", err))
		return
	}
	req, err := decodeLogin(body)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	keys := []string{"uid:" + req.UID, "ip:" + clientIP(r)}
	if ok, wait := s.limiter.Allow(s.cfg.Now(), keys...); !ok {
		w.Header().Set("Retry-After", ratelimit.RetryAfter(wait))
		writeAPIError(w, http.StatusTooManyRequests, "Too Many Requests",
			"Too many failed login attempts; try again later.", "ERR_TOO_MANY_LOGIN_ATTEMPTS")
		return
	}
	u, ok := s.checkCredentials(r.Context(), req)
	if !ok {
		s.limiter.Fail(s.cfg.Now(), keys...)
		s.log.Debug("login failed", "uid", req.UID, "remote_addr", clientIP(r))
		writeAPIError(w, http.StatusUnauthorized, "Unauthorized",
			"Login failed: the uid or the credentials are not valid.", "ERR_INVALID_CREDENTIALS")
		return
	}
	tok, err := s.IssueToken(u.UID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	info, _ := json.Marshal(struct {
		UID         string `json:"uid"`
		Description string `json:"description"`
		IsRemote    bool   `json:"is_remote"`
	}{u.UID, u.Description, false})
	secure := r.TLS != nil
	http.SetCookie(w, &http.Cookie{Name: AuthCookie, Value: tok, Path: "/", HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteLaxMode, MaxAge: int(s.cfg.TokenTTL / time.Second)})
	http.SetCookie(w, &http.Cookie{Name: InfoCookie, Value: base64.URLEncoding.EncodeToString(info), Path: "/",
		Secure: secure, SameSite: http.SameSiteLaxMode, MaxAge: int(s.cfg.TokenTTL / time.Second)})
	s.log.Debug("login", "uid", u.UID, "service", u.IsService)
	writeJSON(w, http.StatusOK, map[string]string{"token": tok})
}

// checkCredentials verifies a login. An unknown uid, a user without a
// password, or the wrong kind of credential costs the same work as a real check
// (a hash or an RS256 verification), so that timing does not tell which uids
// exist.
func (s *Service) checkCredentials(ctx context.Context, req loginRequest) (userRecord, bool) {
	sn := s.snap.Load()
	u, known := sn.users[req.UID]
	if !known {
		// Created on another master a moment ago?
		s.forceReload()
		sn = s.snap.Load()
		u, known = sn.users[req.UID]
	}
	if req.Password != "" {
		hash := s.dummy
		usable := known && !u.IsService && u.PasswordHash != ""
		if usable {
			hash = u.PasswordHash
		}
		match, err := s.compare(ctx, hash, req.Password)
		if err != nil {
			s.log.Warn("check password", "uid", req.UID, "error", err)
		}
		ok := usable && match && err == nil
		if ok && strings.HasPrefix(hash, "$2") {
			s.upgradeHash(ctx, u.UID, hash, req.Password)
		}
		return u, ok
	}
	if !known || !u.IsService {
		// Verify against a key that cannot have signed it, for the same cost.
		_, _ = s.parser().Parse(req.Token, func(*jwt.Token) (any, error) { return sn.active().pub, nil })
		return userRecord{}, false
	}
	if err := s.verifyServiceLogin(u, req.Token); err != nil {
		s.log.Debug("service login token rejected", "uid", u.UID, "error", err)
		return userRecord{}, false
	}
	return u, true
}

// compare is checkPassword under the hash semaphore.
func (s *Service) compare(ctx context.Context, hash, pw string) (bool, error) {
	select {
	case s.hashSem <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-s.hashSem }()
	return checkPassword(hash, pw)
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (s *Service) handleLogout(w http.ResponseWriter, r *http.Request) {
	for _, name := range []string{AuthCookie, InfoCookie} {
		http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, HttpOnly: name == AuthCookie})
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Service) handleJWKS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(s.JWKS())
}

// loginProvider is one entry of /auth/providers, as the DC/OS CLI reads it.
type loginProvider struct {
	AuthenticationType string            `json:"authentication-type"`
	ClientMethod       string            `json:"client-method"`
	Config             map[string]string `json:"config"`
	Description        string            `json:"description"`
}

func (s *Service) handleProviders(w http.ResponseWriter, r *http.Request) {
	cfg := map[string]string{"start_flow_url": apiPrefix + "/auth/login"}
	writeJSON(w, http.StatusOK, map[string]loginProvider{
		"dcos-users": {AuthenticationType: "dcos-uid-password",
			ClientMethod: "dcos-usercredential-post-receive-authtoken", Config: cfg,
			Description: "Default DC/OS login provider"},
		"dcos-services": {AuthenticationType: "dcos-uid-servicekey",
			ClientMethod: "dcos-servicecredential-post-receive-authtoken", Config: cfg,
			Description: "Default DC/OS login provider"},
	})
}

// ---- wire types ----

type userJSON struct {
	UID          string `json:"uid"`
	URL          string `json:"url"`
	Description  string `json:"description"`
	IsRemote     bool   `json:"is_remote"`
	IsService    bool   `json:"is_service"`
	PublicKey    string `json:"public_key,omitempty"`
	ProviderType string `json:"provider_type"`
	ProviderID   string `json:"provider_id"`
}

func toUserJSON(u userRecord) userJSON {
	return userJSON{UID: u.UID, URL: userURL(u.UID), Description: u.Description, IsService: u.IsService,
		PublicKey: u.PublicKey, ProviderType: "internal"}
}

type groupJSON struct {
	GID          string `json:"gid"`
	URL          string `json:"url"`
	Description  string `json:"description"`
	ProviderType string `json:"provider_type"`
}

func toGroupJSON(g groupRecord) groupJSON {
	return groupJSON{GID: g.GID, URL: groupURL(g.GID), Description: g.Description, ProviderType: "internal"}
}

type aclJSON struct {
	RID         string `json:"rid"`
	URL         string `json:"url"`
	Description string `json:"description"`
}

type actionJSON struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

func userURL(uid string) string  { return apiPrefix + "/users/" + uid }
func groupURL(gid string) string { return apiPrefix + "/groups/" + gid }
func aclURL(rid string) string   { return apiPrefix + "/acls/" + escRID(rid) }

// arrayOf is the {"array": [...]} envelope of DC/OS IAM listings.
type arrayOf[T any] struct {
	Array []T `json:"array"`
}

// ---- /users ----

func (s *Service) handleListUsers(w http.ResponseWriter, r *http.Request) {
	sn, err := s.fresh(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	wantService := r.URL.Query().Get("type") == "service"
	out := arrayOf[userJSON]{Array: []userJSON{}}
	for _, uid := range sortedKeys(sn.users) {
		if u := sn.users[uid]; u.IsService == wantService {
			out.Array = append(out.Array, toUserJSON(u))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Service) userFor(w http.ResponseWriter, r *http.Request) (*snapshot, userRecord, bool) {
	sn, err := s.fresh(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return nil, userRecord{}, false
	}
	uid := r.PathValue("uid")
	u, ok := sn.users[uid]
	if !ok {
		s.fail(w, r, fmt.Errorf("%w: %s", errUnknownUser, clip(uid)))
	}
	return sn, u, ok
}

func (s *Service) handleGetUser(w http.ResponseWriter, r *http.Request) {
	if _, u, ok := s.userFor(w, r); ok {
		writeJSON(w, http.StatusOK, toUserJSON(u))
	}
}

func (s *Service) handleCreateUser(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Description  string `json:"description"`
		Password     string `json:"password"`
		PublicKey    string `json:"public_key"`
		ProviderType string `json:"provider_type"`
		ProviderID   string `json:"provider_id"`
		ClusterURL   string `json:"cluster_url"` // dcos-oauth clients send these two
		CreatorUID   string `json:"creator_uid"`
	}
	if err := decode(r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	if body.ProviderType != "" && body.ProviderType != "internal" {
		s.fail(w, r, invalid("provider_type %q is not supported: only internal accounts", clip(body.ProviderType)))
		return
	}
	err := s.createUser(r.Context(), r.PathValue("uid"), newUser{Description: body.Description, Password: body.Password, PublicKey: body.PublicKey})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

func (s *Service) handleUpdateUser(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Description *string `json:"description"`
		Password    *string `json:"password"`
	}
	if err := decode(r, &body); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.updateUser(r.Context(), r.PathValue("uid"), body.Description, body.Password); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) handleDeleteUser(w http.ResponseWriter, r *http.Request) {
	if err := s.deleteUser(r.Context(), r.PathValue("uid")); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) handleUserGroups(w http.ResponseWriter, r *http.Request) {
	sn, u, ok := s.userFor(w, r)
	if !ok {
		return
	}
	type membership struct {
		MembershipURL string    `json:"membershipurl"`
		Group         groupJSON `json:"group"`
	}
	out := arrayOf[membership]{Array: []membership{}}
	for _, gid := range sortedKeys(sn.ofUser[u.UID]) {
		if g, ok := sn.groups[gid]; ok {
			out.Array = append(out.Array, membership{groupURL(gid) + "/users/" + u.UID, toGroupJSON(g)})
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// permissionJSON is one resource's actions in a permissions listing.
type permissionJSON struct {
	RID           string       `json:"rid"`
	GID           string       `json:"gid,omitempty"`
	Description   string       `json:"description"`
	ACLURL        string       `json:"aclurl"`
	MembershipURL string       `json:"membershipurl,omitempty"`
	Actions       []actionJSON `json:"actions"`
}

// permissionsOf lists what subject ("u:<uid>" or "g:<gid>") holds, by rid.
func (sn *snapshot) permissionsOf(subject string) []permissionJSON {
	kind, id, _ := strings.Cut(subject, ":")
	path := map[string]string{"u": "users", "g": "groups"}[kind]
	var out []permissionJSON
	for _, rid := range sortedKeys(sn.grants) {
		actions := sn.grants[rid][subject]
		if len(actions) == 0 {
			continue
		}
		p := permissionJSON{RID: rid, Description: sn.acls[rid].Description, ACLURL: aclURL(rid)}
		for _, a := range sortedKeys(actions) {
			p.Actions = append(p.Actions, actionJSON{Name: a, URL: aclURL(rid) + "/" + path + "/" + id + "/" + a})
		}
		out = append(out, p)
	}
	return out
}

func (s *Service) handleUserPermissions(w http.ResponseWriter, r *http.Request) {
	sn, u, ok := s.userFor(w, r)
	if !ok {
		return
	}
	out := struct {
		Direct []permissionJSON `json:"direct"`
		Groups []permissionJSON `json:"groups"`
	}{Direct: []permissionJSON{}, Groups: []permissionJSON{}}
	out.Direct = append(out.Direct, sn.permissionsOf("u:"+u.UID)...)
	for _, gid := range sortedKeys(sn.ofUser[u.UID]) {
		for _, p := range sn.permissionsOf("g:" + gid) {
			p.GID, p.MembershipURL = gid, groupURL(gid)+"/users/"+u.UID
			out.Groups = append(out.Groups, p)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// ---- /groups ----

func (s *Service) handleListGroups(w http.ResponseWriter, r *http.Request) {
	sn, err := s.fresh(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := arrayOf[groupJSON]{Array: []groupJSON{}}
	for _, gid := range sortedKeys(sn.groups) {
		out.Array = append(out.Array, toGroupJSON(sn.groups[gid]))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Service) groupFor(w http.ResponseWriter, r *http.Request) (*snapshot, groupRecord, bool) {
	sn, err := s.fresh(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return nil, groupRecord{}, false
	}
	gid := r.PathValue("gid")
	g, ok := sn.groups[gid]
	if !ok {
		s.fail(w, r, fmt.Errorf("%w: %s", errUnknownGroup, clip(gid)))
	}
	return sn, g, ok
}

func (s *Service) handleGetGroup(w http.ResponseWriter, r *http.Request) {
	if _, g, ok := s.groupFor(w, r); ok {
		writeJSON(w, http.StatusOK, toGroupJSON(g))
	}
}

type descriptionBody struct {
	Description  *string `json:"description"`
	ProviderType string  `json:"provider_type"`
}

func (s *Service) decodeDescription(w http.ResponseWriter, r *http.Request, required bool) (string, bool) {
	var body descriptionBody
	if err := decode(r, &body); err != nil {
		s.fail(w, r, err)
		return "", false
	}
	if body.Description == nil && required {
		s.fail(w, r, invalid("description is required"))
		return "", false
	}
	if body.Description == nil {
		return "", true
	}
	return *body.Description, true
}

func (s *Service) handleCreateGroup(w http.ResponseWriter, r *http.Request) {
	d, ok := s.decodeDescription(w, r, false)
	if !ok {
		return
	}
	if err := s.createGroup(r.Context(), r.PathValue("gid"), d); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

func (s *Service) handleUpdateGroup(w http.ResponseWriter, r *http.Request) {
	d, ok := s.decodeDescription(w, r, true)
	if !ok {
		return
	}
	if err := s.updateGroup(r.Context(), r.PathValue("gid"), d); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) handleDeleteGroup(w http.ResponseWriter, r *http.Request) {
	if err := s.deleteGroup(r.Context(), r.PathValue("gid")); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) handleGroupUsers(w http.ResponseWriter, r *http.Request) {
	sn, g, ok := s.groupFor(w, r)
	if !ok {
		return
	}
	type member struct {
		MembershipURL string   `json:"membershipurl"`
		User          userJSON `json:"user"`
	}
	wantService := r.URL.Query().Get("type") == "service"
	out := arrayOf[member]{Array: []member{}}
	for _, uid := range sortedKeys(sn.members[g.GID]) {
		u, ok := sn.users[uid]
		if !ok || (r.URL.Query().Has("type") && u.IsService != wantService) {
			continue
		}
		out.Array = append(out.Array, member{groupURL(g.GID) + "/users/" + uid, toUserJSON(u)})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Service) handleAddMember(w http.ResponseWriter, r *http.Request) {
	if err := s.addMember(r.Context(), r.PathValue("gid"), r.PathValue("uid")); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) handleRemoveMember(w http.ResponseWriter, r *http.Request) {
	if err := s.removeMember(r.Context(), r.PathValue("gid"), r.PathValue("uid")); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) handleGroupPermissions(w http.ResponseWriter, r *http.Request) {
	sn, g, ok := s.groupFor(w, r)
	if !ok {
		return
	}
	out := arrayOf[permissionJSON]{Array: []permissionJSON{}}
	out.Array = append(out.Array, sn.permissionsOf("g:"+g.GID)...)
	writeJSON(w, http.StatusOK, out)
}

// ---- /acls ----

func (s *Service) handleListACLs(w http.ResponseWriter, r *http.Request) {
	sn, err := s.fresh(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := arrayOf[aclJSON]{Array: []aclJSON{}}
	for _, rid := range sortedKeys(sn.acls) {
		out.Array = append(out.Array, aclJSON{RID: rid, URL: aclURL(rid), Description: sn.acls[rid].Description})
	}
	writeJSON(w, http.StatusOK, out)
}

// ridFrom returns the {rid} of the path, validated. The mux has unescaped it.
func (s *Service) ridFrom(w http.ResponseWriter, r *http.Request) (string, bool) {
	rid := r.PathValue("rid")
	if err := ValidateRID(rid); err != nil {
		s.fail(w, r, invalid("%v", err))
		return "", false
	}
	return rid, true
}

func (s *Service) aclFor(w http.ResponseWriter, r *http.Request) (*snapshot, aclRecord, bool) {
	rid, ok := s.ridFrom(w, r)
	if !ok {
		return nil, aclRecord{}, false
	}
	sn, err := s.fresh(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return nil, aclRecord{}, false
	}
	a, ok := sn.acls[rid]
	if !ok {
		s.fail(w, r, fmt.Errorf("%w: %s", errUnknownACL, rid))
	}
	return sn, a, ok
}

func (s *Service) handleGetACL(w http.ResponseWriter, r *http.Request) {
	if _, a, ok := s.aclFor(w, r); ok {
		writeJSON(w, http.StatusOK, aclJSON{RID: a.RID, URL: aclURL(a.RID), Description: a.Description})
	}
}

func (s *Service) handleCreateACL(w http.ResponseWriter, r *http.Request) {
	rid, ok := s.ridFrom(w, r)
	if !ok {
		return
	}
	d, ok := s.decodeDescription(w, r, false)
	if !ok {
		return
	}
	if err := s.createACL(r.Context(), rid, d); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

func (s *Service) handleUpdateACL(w http.ResponseWriter, r *http.Request) {
	rid, ok := s.ridFrom(w, r)
	if !ok {
		return
	}
	d, ok := s.decodeDescription(w, r, true)
	if !ok {
		return
	}
	if err := s.updateACL(r.Context(), rid, d); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) handleDeleteACL(w http.ResponseWriter, r *http.Request) {
	rid, ok := s.ridFrom(w, r)
	if !ok {
		return
	}
	if err := s.deleteACL(r.Context(), rid); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) handleACLPermissions(w http.ResponseWriter, r *http.Request) {
	sn, a, ok := s.aclFor(w, r)
	if !ok {
		return
	}
	type holder struct {
		UID     string       `json:"uid,omitempty"`
		UserURL string       `json:"userurl,omitempty"`
		GID     string       `json:"gid,omitempty"`
		GrpURL  string       `json:"groupurl,omitempty"`
		Actions []actionJSON `json:"actions"`
	}
	out := struct {
		Users  []holder `json:"users"`
		Groups []holder `json:"groups"`
	}{Users: []holder{}, Groups: []holder{}}
	bySubject := sn.grants[a.RID]
	for _, subject := range sortedKeys(bySubject) {
		kind, id, _ := strings.Cut(subject, ":")
		var h holder
		path := "users"
		if kind == "u" {
			h.UID, h.UserURL = id, userURL(id)
		} else {
			h.GID, h.GrpURL, path = id, groupURL(id), "groups"
		}
		for _, act := range sortedKeys(bySubject[subject]) {
			h.Actions = append(h.Actions, actionJSON{Name: act, URL: aclURL(a.RID) + "/" + path + "/" + id + "/" + act})
		}
		if kind == "u" {
			out.Users = append(out.Users, h)
		} else {
			out.Groups = append(out.Groups, h)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func kindOf(path string) string {
	if path == "users" {
		return "u"
	}
	return "g"
}

// subjectFor validates the {subject} of an ACL route and checks it exists.
func (s *Service) subjectFor(w http.ResponseWriter, r *http.Request, sn *snapshot, path string) (string, bool) {
	id := r.PathValue("subject")
	if path == "users" {
		if _, ok := sn.users[id]; !ok {
			s.fail(w, r, fmt.Errorf("%w: %s", errUnknownUser, clip(id)))
			return "", false
		}
	} else if _, ok := sn.groups[id]; !ok {
		s.fail(w, r, fmt.Errorf("%w: %s", errUnknownGroup, clip(id)))
		return "", false
	}
	return id, true
}

func (s *Service) handleSubjectActions(path string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sn, a, ok := s.aclFor(w, r)
		if !ok {
			return
		}
		id, ok := s.subjectFor(w, r, sn, path)
		if !ok {
			return
		}
		out := arrayOf[actionJSON]{Array: []actionJSON{}}
		for _, act := range sortedKeys(sn.grants[a.RID][kindOf(path)+":"+id]) {
			out.Array = append(out.Array, actionJSON{Name: act, URL: aclURL(a.RID) + "/" + path + "/" + id + "/" + act})
		}
		writeJSON(w, http.StatusOK, out)
	}
}

// handleCheck answers {"allowed": bool}: whether the user (directly or through
// a group) or the group holds the action or "full" on the resource.
func (s *Service) handleCheck(path string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rid, ok := s.ridFrom(w, r)
		if !ok {
			return
		}
		action := r.PathValue("action")
		if err := validateAction(action); err != nil {
			s.fail(w, r, invalid("%v", err))
			return
		}
		sn, err := s.fresh(r.Context())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		id, ok := s.subjectFor(w, r, sn, path)
		if !ok {
			return
		}
		var allowed bool
		if path == "users" {
			allowed = sn.allowed(id, rid, action)
		} else {
			acts := sn.grants[rid]["g:"+id]
			allowed = acts[action] || acts[ActionFull]
		}
		writeJSON(w, http.StatusOK, map[string]bool{"allowed": allowed})
	}
}

func (s *Service) handleGrant(path string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rid, ok := s.ridFrom(w, r)
		if !ok {
			return
		}
		if err := s.grant(r.Context(), kindOf(path), rid, r.PathValue("subject"), r.PathValue("action")); err != nil {
			s.fail(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *Service) handleRevoke(path string, oneAction bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rid, ok := s.ridFrom(w, r)
		if !ok {
			return
		}
		action := ""
		if oneAction {
			action = r.PathValue("action")
			if action == "" {
				s.fail(w, r, invalid("action is required"))
				return
			}
		}
		if err := s.revoke(r.Context(), kindOf(path), rid, r.PathValue("subject"), action); err != nil {
			s.fail(w, r, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}
