package pki

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/basalt-dcos/basalt/internal/store"
)

// revokedPrefix holds the deny-list: one key per revoked certificate
// serial ("serial:<hex>") or node name ("node:<name>").
const revokedPrefix = "pki/revoked/"

// Revocation is one deny-list entry.
type Revocation struct {
	// Serial (lower-case hex, no separators) revokes one certificate.
	Serial string `json:"serial,omitempty"`
	// Node revokes every certificate issued to this node name before At,
	// and refuses joins with the join secret that was current at At
	// (SecretHash): the node needs a fresh token (after a rotation).
	Node       string    `json:"node,omitempty"`
	SecretHash string    `json:"secret_hash,omitempty"`
	At         time.Time `json:"at"`
}

func (r Revocation) storeKey() string {
	if r.Serial != "" {
		return revokedPrefix + "serial:" + r.Serial
	}
	return revokedPrefix + "node:" + r.Node
}

// ParseSerial accepts a certificate serial in hex, with or without ':'
// separators or a 0x prefix, and returns its canonical form.
func ParseSerial(s string) (string, error) {
	s = strings.ToLower(strings.TrimPrefix(strings.ReplaceAll(strings.TrimSpace(s), ":", ""), "0x"))
	if s == "" || len(s) > 64 || !isHex(s) {
		return "", errors.New("serial: want up to 64 hex digits")
	}
	n, _ := new(big.Int).SetString(s, 16)
	return n.Text(16), nil
}

// SerialOf is the canonical serial of cert.
func SerialOf(cert *x509.Certificate) string { return cert.SerialNumber.Text(16) }

func secretHash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// RevokeSerial adds a certificate serial to the deny-list.
func RevokeSerial(ctx context.Context, st *store.Store, serial string, now time.Time) error {
	s, err := ParseSerial(serial)
	if err != nil {
		return err
	}
	return putRevocation(ctx, st, Revocation{Serial: s, At: now.UTC()})
}

// RevokeNode denies every certificate issued to node so far and joins as
// node with the current join secret.
func RevokeNode(ctx context.Context, st *store.Store, kek *KEK, node string, now time.Time) error {
	if err := checkNodeName(node); err != nil {
		return err
	}
	secrets, err := JoinSecrets(ctx, st, kek, now)
	if err != nil {
		return err
	}
	r := Revocation{Node: node, At: now.UTC(), SecretHash: secretHash(secrets[0])}
	return putRevocation(ctx, st, r)
}

func putRevocation(ctx context.Context, st *store.Store, r Revocation) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := st.Apply(ctx, store.Put(r.storeKey(), b)); err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	return nil
}

// revSet is an immutable view of the deny-list.
type revSet struct {
	serials map[string]bool
	nodes   map[string]Revocation
}

// DenyList is every master's view of the revocations, kept current by a
// watch (Run). Its methods are safe for concurrent use.
type DenyList struct {
	st  *store.Store
	log *slog.Logger
	set atomic.Pointer[revSet]

	mu       sync.Mutex
	onChange []func()
}

// NewDenyList returns an empty list; Load fills it, Run follows it.
func NewDenyList(st *store.Store, logger *slog.Logger) *DenyList {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d := &DenyList{st: st, log: logger}
	d.set.Store(&revSet{serials: map[string]bool{}, nodes: map[string]Revocation{}})
	return d
}

// OnChange registers fn, called (on Run's goroutine) after every change.
func (d *DenyList) OnChange(fn func()) {
	d.mu.Lock()
	d.onChange = append(d.onChange, fn)
	d.mu.Unlock()
}

// Load reads the deny-list and returns the revision to watch from.
func (d *DenyList) Load(ctx context.Context) (int64, error) {
	kvs, rev, err := d.st.ListWithRevision(ctx, revokedPrefix)
	if err != nil {
		return 0, fmt.Errorf("load the deny-list: %w", err)
	}
	s := &revSet{serials: map[string]bool{}, nodes: map[string]Revocation{}}
	for _, kv := range kvs {
		var r Revocation
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			d.log.Warn("skip a malformed revocation", "key", kv.Key)
			continue
		}
		if r.Serial != "" {
			s.serials[r.Serial] = true
		} else if r.Node != "" {
			s.nodes[r.Node] = r
		}
	}
	d.set.Store(s)
	return rev, nil
}

// Run follows the deny-list until ctx ends, starting after revision rev
// (from Load), and calls the OnChange functions after every change.
func (d *DenyList) Run(ctx context.Context, rev int64) error {
	for {
		for ev := range d.st.Watch(ctx, revokedPrefix, rev+1) {
			if ev.Type == store.EventResync {
				break
			}
			d.apply(ev)
			d.notify()
		}
		if ctx.Err() != nil {
			return nil
		}
		var err error
		if rev, err = d.Load(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			d.log.Warn("reload the deny-list", "error", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(time.Second):
			}
			continue
		}
		d.notify()
	}
}

// apply copies the set with one change.
func (d *DenyList) apply(ev store.WatchEvent) {
	old := d.set.Load()
	s := &revSet{serials: make(map[string]bool, len(old.serials)+1), nodes: make(map[string]Revocation, len(old.nodes)+1)}
	for k, v := range old.serials {
		s.serials[k] = v
	}
	for k, v := range old.nodes {
		s.nodes[k] = v
	}
	id := strings.TrimPrefix(ev.Key, revokedPrefix)
	switch ev.Type {
	case store.EventPut:
		var r Revocation
		if err := json.Unmarshal(ev.Value, &r); err != nil {
			d.log.Warn("skip a malformed revocation", "key", ev.Key)
			return
		}
		if r.Serial != "" {
			s.serials[r.Serial] = true
		} else if r.Node != "" {
			s.nodes[r.Node] = r
		}
		d.log.Info("certificate revocation", "serial", r.Serial, "node", r.Node)
	case store.EventDelete:
		if v, ok := strings.CutPrefix(id, "serial:"); ok {
			delete(s.serials, v)
		} else if v, ok := strings.CutPrefix(id, "node:"); ok {
			delete(s.nodes, v)
		}
	}
	d.set.Store(s)
}

func (d *DenyList) notify() {
	d.mu.Lock()
	fns := append([]func(){}, d.onChange...)
	d.mu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// Refresh re-reads the deny-list now and calls the OnChange functions (the
// master that wrote a revocation applies it before its watch delivers it).
func (d *DenyList) Refresh(ctx context.Context) error {
	if _, err := d.Load(ctx); err != nil {
		return err
	}
	d.notify()
	return nil
}

// Revoked reports whether cert is on the deny-list: its serial, or its
// node (common name) revoked after it was issued.
func (d *DenyList) Revoked(cert *x509.Certificate) bool {
	s := d.set.Load()
	if s.serials[SerialOf(cert)] {
		return true
	}
	if r, ok := s.nodes[cert.Subject.CommonName]; ok {
		return !cert.NotBefore.Add(backdate).After(r.At)
	}
	return false
}

// RefuseJoin refuses a join as node with the secret that was current when
// the node was revoked (JoinPolicy.Refuse).
func (d *DenyList) RefuseJoin(node, secret string) error {
	r, ok := d.set.Load().nodes[node]
	if ok && r.SecretHash == secretHash(secret) {
		return fmt.Errorf("node %s was revoked: it joins again only with a join token rotated since", node)
	}
	return nil
}
