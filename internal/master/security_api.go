package master

// This file serves the cluster-security API of the masters, next to the
// join endpoint on the Admin Router's ports and (with --api-tls) the master
// API's TLS side:
//
//	GET  /basalt/v1/join-token          {"token"}                         superuser
//	POST /basalt/v1/join-token/rotate   {"grace_seconds"} → {"token", "previous_valid_until"}
//	POST /basalt/v1/nodes/revoke        {"id": agent ID or certificate serial (hex)} → {"revoked"}
//
// Errors are {"message"}: 401 without a valid token (security strict or
// permissive), 403 without dcos:superuser, 400 bad body, 503 store trouble.

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/basalt-dcos/basalt/internal/iam"
	"github.com/basalt-dcos/basalt/internal/pki"
	"github.com/basalt-dcos/basalt/internal/store"
)

// Paths of the security API.
const (
	JoinTokenPath       = "/basalt/v1/join-token"
	JoinTokenRotatePath = "/basalt/v1/join-token/rotate"
	RevokePath          = "/basalt/v1/nodes/revoke"
	// DefaultJoinTokenGrace is how long a rotated-out join secret still
	// joins when the caller does not say.
	DefaultJoinTokenGrace = 10 * time.Minute
	maxGrace              = 7 * 24 * time.Hour
)

// securityPath reports the paths securityAPI serves.
func securityPath(p string) bool {
	return p == JoinTokenPath || p == JoinTokenRotatePath || p == RevokePath
}

// securityAPI serves the paths of securityPath for the PKI of f.
func (m *Master) securityAPI(f *tlsFront) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == JoinTokenPath && (r.Method == http.MethodGet || r.Method == http.MethodHead):
			if !m.superuserOnly(w, r) {
				return
			}
			tok, err := m.currentJoinToken(r.Context(), f)
			if err != nil {
				m.log.Warn("read the join token", "error", err)
				writeSecError(w, http.StatusServiceUnavailable, "the store did not answer")
				return
			}
			writeSecJSON(w, map[string]string{"token": tok.Encode()})
		case r.URL.Path == JoinTokenRotatePath && r.Method == http.MethodPost:
			if !m.superuserOnly(w, r) {
				return
			}
			grace, err := decodeGrace(r.Body)
			if err != nil {
				writeSecError(w, http.StatusBadRequest, err.Error())
				return
			}
			now := time.Now()
			tok, err := pki.RotateJoinSecret(r.Context(), m.Store(), f.ca, f.kek, grace, now)
			if err != nil {
				m.log.Warn("rotate the join secret", "error", err)
				writeSecError(w, http.StatusServiceUnavailable, "rotation failed (another rotation at the same moment, or the store did not answer); try again")
				return
			}
			f.setToken(tok)
			m.log.Info("join secret rotated", "token", tok, "previous_valid_until", now.Add(grace).UTC())
			writeSecJSON(w, map[string]string{"token": tok.Encode(), "previous_valid_until": now.Add(grace).UTC().Format(time.RFC3339)})
		case r.URL.Path == RevokePath && r.Method == http.MethodPost:
			if !m.superuserOnly(w, r) {
				return
			}
			m.revoke(w, r, f)
		default:
			w.Header().Set("Allow", "GET, POST")
			writeSecError(w, http.StatusMethodNotAllowed, "method not allowed")
		}
	})
}

// decodeGrace reads {"grace_seconds": N} (an empty body: the default).
func decodeGrace(body io.Reader) (time.Duration, error) {
	var req struct {
		GraceSeconds *int64 `json:"grace_seconds"`
	}
	dec := json.NewDecoder(io.LimitReader(body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil && !errors.Is(err, io.EOF) {
		return 0, errors.New("want JSON {\"grace_seconds\": N} or no body")
	}
	if req.GraceSeconds == nil {
		return DefaultJoinTokenGrace, nil
	}
	// Check the number before converting: a huge one overflows a Duration.
	if *req.GraceSeconds < 0 || *req.GraceSeconds > int64(maxGrace/time.Second) {
		return 0, errors.New("grace_seconds must be 0-604800")
	}
	return time.Duration(*req.GraceSeconds) * time.Second, nil
}

// superuserOnly lets dcos:superuser through (everyone when security is
// disabled) and answers 401/403 otherwise.
func (m *Master) superuserOnly(w http.ResponseWriter, r *http.Request) bool {
	if iam.Mode(m.cfg.Security) == iam.ModeDisabled {
		return true
	}
	svc := m.IAM()
	if svc == nil {
		writeSecError(w, http.StatusServiceUnavailable, "the IAM is not running on this master")
		return false
	}
	p, err := svc.Authenticate(r)
	if err != nil {
		w.Header().Set("WWW-Authenticate", "acsjwt")
		writeSecError(w, http.StatusUnauthorized, "a valid authentication token is required")
		return false
	}
	if !svc.Allowed(p, iam.SuperuserRID, iam.ActionFull) {
		writeSecError(w, http.StatusForbidden, "only a superuser may manage the cluster's join token and certificates")
		return false
	}
	return true
}

// currentJoinToken reads the current join secret from the store (another
// master may have rotated it) and caches it.
func (m *Master) currentJoinToken(ctx context.Context, f *tlsFront) (pki.JoinToken, error) {
	secrets, err := pki.JoinSecrets(ctx, m.Store(), f.kek, time.Now())
	if err != nil {
		return pki.JoinToken{}, err
	}
	tok := pki.JoinToken{CAHash: f.ca.Hash(), Secret: secrets[0]}
	f.setToken(tok)
	return tok, nil
}

func writeSecJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(v)
}

func writeSecError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

// revoke puts an agent (every certificate issued to its hostname so far,
// and joins with the current secret) or one certificate serial on the
// deny-list that every master follows.
func (m *Master) revoke(w http.ResponseWriter, r *http.Request, f *tlsFront) {
	var req struct {
		ID string `json:"id"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.ID == "" {
		writeSecError(w, http.StatusBadRequest, "want JSON {\"id\": agent ID or certificate serial}")
		return
	}
	ctx, st, now := r.Context(), m.Store(), time.Now()
	agent, err := newStoreRegistry(st).agents.Get(ctx, req.ID)
	switch {
	case err == nil:
		node := agent.Info.Hostname
		if err := pki.RevokeNode(ctx, st, f.kek, node, now); err != nil {
			m.log.Warn("revoke", "agent_id", req.ID, "error", err)
			writeSecError(w, http.StatusServiceUnavailable, "revocation failed; try again")
			return
		}
		m.log.Info("agent revoked", "agent_id", req.ID, "node", node)
		m.refreshDenyList(ctx, f)
		writeSecJSON(w, map[string]string{"revoked": "node:" + node})
	case errors.Is(err, store.ErrNotFound):
		serial, perr := pki.ParseSerial(req.ID)
		if perr != nil {
			writeSecError(w, http.StatusNotFound, "no agent has this ID, and it is not a certificate serial (hex)")
			return
		}
		if err := pki.RevokeSerial(ctx, st, serial, now); err != nil {
			m.log.Warn("revoke", "serial", serial, "error", err)
			writeSecError(w, http.StatusServiceUnavailable, "revocation failed; try again")
			return
		}
		m.log.Info("certificate revoked", "serial", serial)
		m.refreshDenyList(ctx, f)
		writeSecJSON(w, map[string]string{"revoked": "serial:" + serial})
	default:
		m.log.Warn("revoke: look up the agent", "agent_id", req.ID, "error", err)
		writeSecError(w, http.StatusServiceUnavailable, "the store did not answer")
	}
}

// refreshDenyList applies a revocation this master just wrote at once.
func (m *Master) refreshDenyList(ctx context.Context, f *tlsFront) {
	if err := f.deny.Refresh(ctx); err != nil {
		m.log.Warn("refresh the deny-list (the watch will catch up)", "error", err)
	}
}
