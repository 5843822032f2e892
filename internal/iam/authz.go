package iam

import (
	"context"
	"errors"
	"fmt"
	"regexp"
)

// Actions on a resource; "full" covers every other.
const (
	ActionFull   = "full"
	ActionCreate = "create"
	ActionRead   = "read"
	ActionUpdate = "update"
	ActionDelete = "delete"
)

func validAction(a string) bool {
	switch a {
	case ActionFull, ActionCreate, ActionRead, ActionUpdate, ActionDelete:
		return true
	}
	return false
}

// Allowed reports whether p may perform action on resource rid: a superuser may
// do anything; otherwise p, or a group p belongs to, must hold action or "full"
// on exactly rid. It reads this master's current view of the IAM state.
func (s *Service) Allowed(p Principal, rid, action string) bool {
	if p.Superuser {
		return true
	}
	if p.UID == "" {
		return false
	}
	sn := s.snap.Load()
	return sn.superuser(p.UID) || sn.allowed(p.UID, rid, action)
}

func (sn *snapshot) superuser(uid string) bool {
	return sn.allowed(uid, SuperuserRID, ActionFull)
}

// allowed ignores superuser: it answers for rid alone.
func (sn *snapshot) allowed(uid, rid, action string) bool {
	bySubject := sn.grants[rid]
	if bySubject == nil {
		return false
	}
	has := func(actions map[string]bool) bool { return actions[action] || actions[ActionFull] }
	if has(bySubject["u:"+uid]) {
		return true
	}
	for gid := range sn.ofUser[uid] {
		if has(bySubject["g:"+gid]) {
			return true
		}
	}
	return false
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p, for Handler (Admin Router sets it).
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the Principal WithPrincipal put in ctx.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok && p.UID != ""
}

// Identifier rules, as DC/OS: uids and gids are lowercase letters, digits and
// "-_.@", 1 to 96 characters (uids at least 2), not starting with a dot or dash;
// resource ids are printable ASCII without spaces, at most 1024 characters.
var (
	idPattern  = regexp.MustCompile(`^[a-z0-9_@][a-z0-9_.@-]*$`)
	ridPattern = regexp.MustCompile(`^[A-Za-z0-9:_./*@+=,-]+$`)
)

const (
	maxIDLen  = 96
	maxRIDLen = 1024
)

// ValidateUID checks a user or service account id.
func ValidateUID(uid string) error {
	if len(uid) < 2 || len(uid) > maxIDLen || !idPattern.MatchString(uid) {
		return fmt.Errorf("invalid uid %q: use 2 to %d lowercase letters, digits and -_.@, not starting with . or -", clip(uid), maxIDLen)
	}
	return nil
}

// ValidateGID checks a group id.
func ValidateGID(gid string) error {
	if len(gid) < 1 || len(gid) > maxIDLen || !idPattern.MatchString(gid) {
		return fmt.Errorf("invalid gid %q: use 1 to %d lowercase letters, digits and -_.@, not starting with . or -", clip(gid), maxIDLen)
	}
	return nil
}

// ValidateRID checks a resource id such as dcos:adminrouter:service:marathon.
func ValidateRID(rid string) error {
	if rid == "" || len(rid) > maxRIDLen || !ridPattern.MatchString(rid) {
		return fmt.Errorf("invalid rid %q: use up to %d letters, digits and :_./*@+=,-", clip(rid), maxRIDLen)
	}
	return nil
}

func validateAction(a string) error {
	if !validAction(a) {
		return fmt.Errorf("invalid action %q: want create, read, update, delete or full", clip(a))
	}
	return nil
}

// clip shortens an echoed identifier so an error stays readable.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

var errUnknownUser = errors.New("unknown user")
