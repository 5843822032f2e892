package pki

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/basalt-dcos/basalt/internal/store"
)

// Store keys (relative to the store prefix).
const (
	caStoreKey     = "pki/ca"          // storedCA as JSON
	secretStoreKey = "pki/join-secret" // the join token's secret
)

// storedCA is the CA as kept in the store. The key is stored in the clear:
// the store is the cluster's trust root (as ZooKeeper holds DC/OS's CA
// material); protect the masters' data directories and etcd accordingly.
type storedCA struct {
	Cert string `json:"cert"`
	Key  string `json:"key"`
}

// EnsureCA returns the cluster CA, generating it and storing it with a
// create-if-absent write on first use: masters that start at the same time
// all end up with the one CA that won.
func EnsureCA(ctx context.Context, st *store.Store) (*CA, error) {
	for {
		data, err := st.Get(ctx, caStoreKey)
		if err == nil {
			var sc storedCA
			if err := json.Unmarshal(data, &sc); err != nil {
				return nil, errors.New("ensure cluster CA: stored CA is not valid JSON") // never quote the value
			}
			ca, err := loadCA([]byte(sc.Cert), []byte(sc.Key))
			if err != nil {
				return nil, fmt.Errorf("ensure cluster CA: %w", err)
			}
			return ca, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("ensure cluster CA: %w", err)
		}
		ca, err := NewCA(time.Now())
		if err != nil {
			return nil, fmt.Errorf("ensure cluster CA: %w", err)
		}
		kp, err := ca.keyPEM()
		if err != nil {
			return nil, fmt.Errorf("ensure cluster CA: %w", err)
		}
		enc, err := json.Marshal(storedCA{Cert: string(ca.certPEM), Key: string(kp)})
		if err != nil {
			return nil, fmt.Errorf("ensure cluster CA: %w", err)
		}
		err = st.Apply(ctx, store.PutIfAbsent(caStoreKey, enc))
		if err == nil {
			return ca, nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return nil, fmt.Errorf("ensure cluster CA: %w", err)
		}
		// Another master stored its CA first: read that one.
	}
}

// EnsureJoinToken returns the cluster's join token for ca, generating its
// secret (32 random bytes, hex) and storing it create-if-absent on first use.
func EnsureJoinToken(ctx context.Context, st *store.Store, ca *CA) (JoinToken, error) {
	for {
		data, err := st.Get(ctx, secretStoreKey)
		if err == nil {
			t := JoinToken{CAHash: ca.Hash(), Secret: string(data)}
			if err := checkSecret(t.Secret); err != nil {
				return JoinToken{}, errors.New("ensure join token: the stored secret is malformed")
			}
			return t, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return JoinToken{}, fmt.Errorf("ensure join token: %w", err)
		}
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			return JoinToken{}, fmt.Errorf("ensure join token: %w", err)
		}
		secret := hex.EncodeToString(b[:])
		err = st.Apply(ctx, store.PutIfAbsent(secretStoreKey, []byte(secret)))
		if err == nil {
			return JoinToken{CAHash: ca.Hash(), Secret: secret}, nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return JoinToken{}, fmt.Errorf("ensure join token: %w", err)
		}
	}
}
