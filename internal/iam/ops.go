package iam

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/basalt-dcos/basalt/internal/store"
)

// Domain errors of the management operations; the HTTP layer maps them to
// DC/OS error codes in one table (errorTable).
var (
	errUserExists   = errors.New("user already exists")
	errUnknownGroup = errors.New("unknown group")
	errGroupExists  = errors.New("group already exists")
	errUnknownACL   = errors.New("unknown resource")
	errACLExists    = errors.New("ACL already exists")
)

// invalidError is bad input, reported to the client as 400.
type invalidError struct{ msg string }

func (e *invalidError) Error() string { return e.msg }

func invalid(format string, args ...any) error {
	return &invalidError{msg: fmt.Sprintf(format, args...)}
}

// maxConflictRetries bounds read-modify-write retries against concurrent writers.
const maxConflictRetries = 5

// write applies ops and then refreshes this master's snapshot, so that the
// caller reads its own write.
func (s *Service) write(ctx context.Context, ops ...store.Op) error {
	if err := s.cfg.Store.Apply(ctx, ops...); err != nil {
		return err
	}
	_, err := s.reload(ctx)
	return err
}

type newUser struct {
	Description string
	Password    string // users
	PublicKey   string // service accounts
}

func (s *Service) createUser(ctx context.Context, uid string, nu newUser) error {
	if err := ValidateUID(uid); err != nil {
		return invalid("%v", err)
	}
	rec := userRecord{UID: uid, Description: nu.Description, CreatedAt: s.cfg.Now().UTC()}
	switch {
	case nu.Password != "" && nu.PublicKey != "":
		return invalid("give either password (a user) or public_key (a service account), not both")
	case nu.PublicKey != "":
		if _, err := parsePublicKey(nu.PublicKey); err != nil {
			return invalid("%v", err)
		}
		rec.PublicKey, rec.IsService = strings.TrimSpace(nu.PublicKey)+"\n", true
	case nu.Password != "":
		if err := checkNewPassword(nu.Password); err != nil {
			return err
		}
		h, err := s.hash(ctx, nu.Password)
		if err != nil {
			return err
		}
		rec.PasswordHash = h
	default:
		return invalid("password (a user) or public_key (a service account) is required")
	}
	err := s.write(ctx, s.db.users.PutIfAbsentOp(uid, rec))
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("%w: %s", errUserExists, uid)
	}
	return err
}

func checkNewPassword(pw string) error {
	if len(pw) < 5 || len(pw) > maxPasswordLen {
		return invalid("password must be 5 to %d characters", maxPasswordLen)
	}
	return nil
}

// hash computes an argon2id hash, at most len(hashSem) at a time: each takes
// Argon2.MemoryKiB of memory.
func (s *Service) hash(ctx context.Context, pw string) (string, error) {
	select {
	case s.hashSem <- struct{}{}:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	defer func() { <-s.hashSem }()
	return hashPassword(pw, s.cfg.Argon2)
}

func (s *Service) updateUser(ctx context.Context, uid string, description, password *string) error {
	var newHash string
	if password != nil {
		if err := checkNewPassword(*password); err != nil {
			return err
		}
		h, err := s.hash(ctx, *password)
		if err != nil {
			return err
		}
		newHash = h
	}
	for range maxConflictRetries {
		e, err := s.db.users.GetEntry(ctx, uid)
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: %s", errUnknownUser, uid)
		}
		if err != nil {
			return err
		}
		rec := e.Value
		if description != nil {
			rec.Description = *description
		}
		if password != nil {
			if rec.IsService {
				return invalid("%s is a service account: it logs in with its key, not a password", uid)
			}
			rec.PasswordHash = newHash
		}
		err = s.write(ctx, s.db.users.PutIfRevisionOp(uid, rec, e.ModRevision))
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("update user %s: %w", uid, store.ErrConflict)
}

// deleteUser removes the account with its memberships and grants.
func (s *Service) deleteUser(ctx context.Context, uid string) error {
	if _, err := s.db.users.Get(ctx, uid); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s", errUnknownUser, uid)
	} else if err != nil {
		return err
	}
	ops := []store.Op{s.db.users.DeleteOp(uid)}
	members, err := s.db.members.List(ctx)
	if err != nil {
		return err
	}
	for _, m := range members {
		if m.UID == uid {
			ops = append(ops, s.db.members.DeleteOp(memberID(m.GID, uid)))
		}
	}
	grants, err := s.db.grants.List(ctx)
	if err != nil {
		return err
	}
	for _, g := range grants {
		if g.Kind == "u" && g.Subject == uid {
			ops = append(ops, s.db.grants.DeleteOp(grantID("u", g.RID, uid, g.Action)))
		}
	}
	return s.write(ctx, ops...)
}

func (s *Service) createGroup(ctx context.Context, gid, description string) error {
	if err := ValidateGID(gid); err != nil {
		return invalid("%v", err)
	}
	err := s.write(ctx, s.db.groups.PutIfAbsentOp(gid, groupRecord{GID: gid, Description: description}))
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("%w: %s", errGroupExists, gid)
	}
	return err
}

func (s *Service) updateGroup(ctx context.Context, gid, description string) error {
	e, err := s.db.groups.GetEntry(ctx, gid)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s", errUnknownGroup, gid)
	}
	if err != nil {
		return err
	}
	rec := e.Value
	rec.Description = description
	return s.write(ctx, s.db.groups.PutIfRevisionOp(gid, rec, e.ModRevision))
}

func (s *Service) deleteGroup(ctx context.Context, gid string) error {
	if _, err := s.db.groups.Get(ctx, gid); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s", errUnknownGroup, gid)
	} else if err != nil {
		return err
	}
	ops := []store.Op{s.db.groups.DeleteOp(gid), store.DeletePrefix(s.db.members.Key(gid + "/"))}
	grants, err := s.db.grants.List(ctx)
	if err != nil {
		return err
	}
	for _, g := range grants {
		if g.Kind == "g" && g.Subject == gid {
			ops = append(ops, s.db.grants.DeleteOp(grantID("g", g.RID, gid, g.Action)))
		}
	}
	return s.write(ctx, ops...)
}

// guardExisting returns a Guard op that fails the Apply if the record at key was
// deleted (or deleted and re-created) since it was read, and errNotFound if it
// does not exist now.
func (s *Service) guardExisting(ctx context.Context, key string, notFound error) (store.Op, error) {
	kv, err := s.cfg.Store.GetKV(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return store.Op{}, notFound
	}
	if err != nil {
		return store.Op{}, err
	}
	return store.Guard(key, kv.CreateRevision), nil
}

func (s *Service) subjectGuard(ctx context.Context, kind, subject string) (store.Op, error) {
	if kind == "u" {
		return s.guardExisting(ctx, s.db.users.Key(subject), fmt.Errorf("%w: %s", errUnknownUser, subject))
	}
	return s.guardExisting(ctx, s.db.groups.Key(subject), fmt.Errorf("%w: %s", errUnknownGroup, subject))
}

func (s *Service) addMember(ctx context.Context, gid, uid string) error {
	for range maxConflictRetries {
		g, err := s.subjectGuard(ctx, "g", gid)
		if err != nil {
			return err
		}
		u, err := s.subjectGuard(ctx, "u", uid)
		if err != nil {
			return err
		}
		err = s.write(ctx, g, u, s.db.members.PutOp(memberID(gid, uid), memberRecord{GID: gid, UID: uid}))
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("add %s to %s: %w", uid, gid, store.ErrConflict)
}

func (s *Service) removeMember(ctx context.Context, gid, uid string) error {
	if _, err := s.db.members.Get(ctx, memberID(gid, uid)); errors.Is(err, store.ErrNotFound) {
		if _, gerr := s.db.groups.Get(ctx, gid); errors.Is(gerr, store.ErrNotFound) {
			return fmt.Errorf("%w: %s", errUnknownGroup, gid)
		}
		return fmt.Errorf("%w: %s is not a member of %s", errUnknownUser, uid, gid)
	} else if err != nil {
		return err
	}
	return s.write(ctx, s.db.members.DeleteOp(memberID(gid, uid)))
}

func (s *Service) createACL(ctx context.Context, rid, description string) error {
	if err := ValidateRID(rid); err != nil {
		return invalid("%v", err)
	}
	err := s.write(ctx, s.db.acls.PutIfAbsentOp(escRID(rid), aclRecord{RID: rid, Description: description}))
	if errors.Is(err, store.ErrConflict) {
		return fmt.Errorf("%w: %s", errACLExists, rid)
	}
	return err
}

func (s *Service) updateACL(ctx context.Context, rid, description string) error {
	e, err := s.db.acls.GetEntry(ctx, escRID(rid))
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s", errUnknownACL, rid)
	}
	if err != nil {
		return err
	}
	rec := e.Value
	rec.Description = description
	return s.write(ctx, s.db.acls.PutIfRevisionOp(escRID(rid), rec, e.ModRevision))
}

func (s *Service) deleteACL(ctx context.Context, rid string) error {
	if rid == SuperuserRID {
		// It would take every superuser's grant with it in one call.
		return invalid("the %s ACL cannot be deleted; revoke single grants instead", SuperuserRID)
	}
	if _, err := s.db.acls.Get(ctx, escRID(rid)); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s", errUnknownACL, rid)
	} else if err != nil {
		return err
	}
	return s.write(ctx,
		s.db.acls.DeleteOp(escRID(rid)),
		store.DeletePrefix(s.db.grants.Key("u/"+escRID(rid)+"/")),
		store.DeletePrefix(s.db.grants.Key("g/"+escRID(rid)+"/")))
}

// grant gives subject (kind "u": a user, "g": a group) action on rid. An ACL
// that does not exist yet is created with an empty description, as the DC/OS
// CLI would do before granting.
func (s *Service) grant(ctx context.Context, kind, rid, subject, action string) error {
	if err := ValidateRID(rid); err != nil {
		return invalid("%v", err)
	}
	if err := validateAction(action); err != nil {
		return invalid("%v", err)
	}
	for range maxConflictRetries {
		guard, err := s.subjectGuard(ctx, kind, subject)
		if err != nil {
			return err
		}
		ops := []store.Op{guard, s.db.grants.PutOp(grantID(kind, rid, subject, action),
			grantRecord{RID: rid, Kind: kind, Subject: subject, Action: action})}
		aclOp, err := s.guardExisting(ctx, s.db.acls.Key(escRID(rid)), errUnknownACL)
		if errors.Is(err, errUnknownACL) {
			aclOp = s.db.acls.PutIfAbsentOp(escRID(rid), aclRecord{RID: rid})
		} else if err != nil {
			return err
		}
		err = s.write(ctx, append(ops, aclOp)...)
		if !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("grant %s on %s: %w", action, rid, store.ErrConflict)
}

// revoke takes action from subject on rid; action "" takes every action.
func (s *Service) revoke(ctx context.Context, kind, rid, subject, action string) error {
	if action != "" {
		if err := validateAction(action); err != nil {
			return invalid("%v", err)
		}
	}
	if _, err := s.db.acls.Get(ctx, escRID(rid)); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s", errUnknownACL, rid)
	} else if err != nil {
		return err
	}
	if _, err := s.subjectGuard(ctx, kind, subject); err != nil {
		return err
	}
	if action == "" {
		return s.write(ctx, store.DeletePrefix(s.db.grants.Key(kind+"/"+escRID(rid)+"/"+subject+"/")))
	}
	return s.write(ctx, s.db.grants.DeleteOp(grantID(kind, rid, subject, action)))
}

// EnsureSuperuser creates the first account, a superuser, if the IAM has no
// user yet and has never bootstrapped one. With password "" it generates a
// one-time password and returns it (the caller shows it to the operator once; it
// is never logged or stored in clear). When there is nothing to do it returns
// "" and nil. Masters starting together create at most one bootstrap user.
func (s *Service) EnsureSuperuser(ctx context.Context, uid, password string) (string, error) {
	if err := ValidateUID(uid); err != nil {
		return "", err
	}
	if _, err := s.reload(ctx); err != nil {
		return "", fmt.Errorf("bootstrap superuser: %w", err)
	}
	sn := s.snap.Load()
	if sn.bootstrapped || len(sn.users) > 0 {
		return "", nil
	}
	generated := ""
	if password == "" {
		var err error
		if password, err = randomPassword(); err != nil {
			return "", err
		}
		generated = password
	} else if err := checkNewPassword(password); err != nil {
		return "", err
	}
	h, err := s.hash(ctx, password)
	if err != nil {
		return "", err
	}
	now := s.cfg.Now().UTC()
	marker, err := json.Marshal(bootstrapRecord{UID: uid, At: now})
	if err != nil {
		return "", err
	}
	err = s.write(ctx,
		// The marker is written only if absent: of two masters, one wins.
		store.PutIfAbsent(bootstrapKey, marker),
		s.db.users.PutIfAbsentOp(uid, userRecord{UID: uid, Description: "bootstrap superuser", PasswordHash: h, CreatedAt: now}),
		s.db.acls.PutOp(escRID(SuperuserRID), aclRecord{RID: SuperuserRID, Description: "superuser: every action on every resource"}),
		s.db.grants.PutOp(grantID("u", SuperuserRID, uid, ActionFull), grantRecord{RID: SuperuserRID, Kind: "u", Subject: uid, Action: ActionFull}),
	)
	if errors.Is(err, store.ErrConflict) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("bootstrap superuser: %w", err)
	}
	s.log.Info("created bootstrap superuser", "uid", uid, "generated_password", generated != "")
	return generated, nil
}

// upgradeHash replaces a bcrypt hash with an argon2id one after pw was
// verified against it, unless the record changed meanwhile. Best effort: a
// failure leaves the bcrypt hash, which still works.
func (s *Service) upgradeHash(ctx context.Context, uid, oldHash, pw string) {
	e, err := s.db.users.GetEntry(ctx, uid)
	if err != nil || e.Value.PasswordHash != oldHash {
		return
	}
	h, err := s.hash(ctx, pw)
	if err == nil {
		rec := e.Value
		rec.PasswordHash = h
		err = s.write(ctx, s.db.users.PutIfRevisionOp(uid, rec, e.ModRevision))
	}
	if err != nil && !errors.Is(err, store.ErrConflict) {
		s.log.Warn("upgrade bcrypt password hash to argon2id", "uid", uid, "error", err)
	}
}
