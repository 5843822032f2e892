package iam

import (
	"context"
	"crypto/rsa"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/basalt-dcos/basalt/internal/store"
)

// Store layout, all under iam/:
//
//	iam/keys/<gen>                        signing key generation <gen> (zero-padded)
//	iam/users/<uid>                       user or service account
//	iam/groups/<gid>                      group
//	iam/members/<gid>/<uid>               group membership
//	iam/acls/<escaped rid>                ACL (resource) with its description
//	iam/grants/u/<escaped rid>/<uid>/<action>   action granted to a user
//	iam/grants/g/<escaped rid>/<gid>/<action>   action granted to a group
//	iam/bootstrap                         marker: the bootstrap superuser was created
//
// Memberships and grants are keys of their own so that concurrent changes by
// different masters never overwrite each other.
const iamPrefix = "iam/"

const bootstrapKey = "iam/bootstrap"

type keyRecord struct {
	Gen        int       `json:"gen"`
	KID        string    `json:"kid"`
	PrivateKey string    `json:"private_key"` // PKCS#8 PEM, or sealed with Config.Sealer (bound to the store key)
	CreatedAt  time.Time `json:"created_at"`
	RetiredAt  time.Time `json:"retired_at,omitzero"` // when a newer key replaced it
}

type userRecord struct {
	UID          string    `json:"uid"`
	Description  string    `json:"description"`
	PasswordHash string    `json:"password_hash,omitempty"` // users: argon2id PHC or bcrypt
	PublicKey    string    `json:"public_key,omitempty"`    // service accounts: PEM
	IsService    bool      `json:"is_service"`
	CreatedAt    time.Time `json:"created_at"`
}

type groupRecord struct {
	GID         string `json:"gid"`
	Description string `json:"description"`
}

type memberRecord struct {
	GID string `json:"gid"`
	UID string `json:"uid"`
}

type aclRecord struct {
	RID         string `json:"rid"`
	Description string `json:"description"`
}

type grantRecord struct {
	RID     string `json:"rid"`
	Kind    string `json:"kind"`    // "u" or "g"
	Subject string `json:"subject"` // uid or gid
	Action  string `json:"action"`
}

type bootstrapRecord struct {
	UID string    `json:"uid"`
	At  time.Time `json:"at"`
}

// db is the typed view of the store layout.
type db struct {
	st      *store.Store
	sealer  KeySealer // nil: signing keys in the clear
	keys    *store.Collection[keyRecord]
	users   *store.Collection[userRecord]
	groups  *store.Collection[groupRecord]
	members *store.Collection[memberRecord]
	acls    *store.Collection[aclRecord]
	grants  *store.Collection[grantRecord]
}

func newDB(st *store.Store, sealer KeySealer) *db {
	return &db{
		st:      st,
		sealer:  sealer,
		keys:    store.NewCollection[keyRecord](st, "iam/keys"),
		users:   store.NewCollection[userRecord](st, "iam/users"),
		groups:  store.NewCollection[groupRecord](st, "iam/groups"),
		members: store.NewCollection[memberRecord](st, "iam/members"),
		acls:    store.NewCollection[aclRecord](st, "iam/acls"),
		grants:  store.NewCollection[grantRecord](st, "iam/grants"),
	}
}

func keyID(gen int) string { return fmt.Sprintf("%08d", gen) }

// escRID makes a resource id one key segment ("/" in Marathon group paths).
func escRID(rid string) string { return url.PathEscape(rid) }

func memberID(gid, uid string) string { return gid + "/" + uid }

func grantID(kind, rid, subject, action string) string {
	return kind + "/" + escRID(rid) + "/" + subject + "/" + action
}

// signingKey is a loaded key generation.
type signingKey struct {
	rec  keyRecord
	kid  string
	priv *rsa.PrivateKey
	pub  *rsa.PublicKey
}

// snapshot is an immutable copy of the IAM state at store revision rev.
type snapshot struct {
	rev      int64
	keys     map[string]*signingKey // by kid
	keyOrder []*signingKey          // by generation, newest last
	users    map[string]userRecord
	groups   map[string]groupRecord
	members  map[string]map[string]bool // gid → uids
	ofUser   map[string]map[string]bool // uid → gids
	acls     map[string]aclRecord
	// grants: rid → "u:<uid>" or "g:<gid>" → actions
	grants       map[string]map[string]map[string]bool
	bootstrapped bool
}

func (sn *snapshot) active() *signingKey { return sn.keyOrder[len(sn.keyOrder)-1] }

// load reads everything under iam/ in one consistent listing. Keys already
// parsed in prev (may be nil) are reused: parsing an RSA private key is the
// most expensive part of a reload.
func (d *db) load(ctx context.Context, prev *snapshot) (*snapshot, error) {
	kvs, rev, err := d.st.ListWithRevision(ctx, iamPrefix)
	if err != nil {
		return nil, err
	}
	sn := &snapshot{
		rev:     rev,
		keys:    map[string]*signingKey{},
		users:   map[string]userRecord{},
		groups:  map[string]groupRecord{},
		members: map[string]map[string]bool{},
		ofUser:  map[string]map[string]bool{},
		acls:    map[string]aclRecord{},
		grants:  map[string]map[string]map[string]bool{},
	}
	for _, kv := range kvs {
		if err := sn.add(d, kv, prev); err != nil {
			return nil, fmt.Errorf("load %s: %w", kv.Key, err)
		}
	}
	sort.Slice(sn.keyOrder, func(i, j int) bool { return sn.keyOrder[i].rec.Gen < sn.keyOrder[j].rec.Gen })
	return sn, nil
}

func (sn *snapshot) add(d *db, kv store.KV, prev *snapshot) error {
	switch {
	case kv.Key == bootstrapKey:
		sn.bootstrapped = true
	case strings.HasPrefix(kv.Key, d.keys.Prefix()):
		rec, err := d.keys.Decode(kv.Value)
		if err != nil {
			return err
		}
		var k *signingKey
		if prev != nil {
			if old, ok := prev.keys[rec.KID]; ok && old.rec.PrivateKey == rec.PrivateKey {
				k = &signingKey{rec: rec, kid: rec.KID, priv: old.priv, pub: old.pub}
			}
		}
		if k == nil {
			var err error
			if k, err = parseKeyRecord(rec, d.sealer, kv.Key); err != nil {
				return err
			}
		}
		sn.keys[k.kid] = k
		sn.keyOrder = append(sn.keyOrder, k)
	case strings.HasPrefix(kv.Key, d.users.Prefix()):
		u, err := d.users.Decode(kv.Value)
		if err != nil {
			return err
		}
		sn.users[u.UID] = u
	case strings.HasPrefix(kv.Key, d.groups.Prefix()):
		g, err := d.groups.Decode(kv.Value)
		if err != nil {
			return err
		}
		sn.groups[g.GID] = g
	case strings.HasPrefix(kv.Key, d.members.Prefix()):
		m, err := d.members.Decode(kv.Value)
		if err != nil {
			return err
		}
		addSet(sn.members, m.GID, m.UID)
		addSet(sn.ofUser, m.UID, m.GID)
	case strings.HasPrefix(kv.Key, d.acls.Prefix()):
		a, err := d.acls.Decode(kv.Value)
		if err != nil {
			return err
		}
		sn.acls[a.RID] = a
	case strings.HasPrefix(kv.Key, d.grants.Prefix()):
		g, err := d.grants.Decode(kv.Value)
		if err != nil {
			return err
		}
		bySubject := sn.grants[g.RID]
		if bySubject == nil {
			bySubject = map[string]map[string]bool{}
			sn.grants[g.RID] = bySubject
		}
		addSet(bySubject, g.Kind+":"+g.Subject, g.Action)
	}
	return nil
}

func addSet(m map[string]map[string]bool, k, v string) {
	set := m[k]
	if set == nil {
		set = map[string]bool{}
		m[k] = set
	}
	set[v] = true
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
