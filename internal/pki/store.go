package pki

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/basalt-dcos/basalt/internal/store"
)

// Store keys (relative to the store prefix).
const (
	caStoreKey     = "pki/ca"          // storedCA as JSON
	secretStoreKey = "pki/join-secret" // the join token's secret, sealed with the KEK (joinsecret.go)
)

// storedCA is the CA as kept in the store. KeySealed is the PKCS#8 PEM key
// sealed with the cluster's KEK (bound to the store key); Key is the
// plaintext PEM that clusters wrote before keys were encrypted at rest (or
// that a master without a KEK writes), migrated to KeySealed by the first
// master that starts with a KEK.
type storedCA struct {
	Cert      string `json:"cert"`
	Key       string `json:"key,omitempty"`
	KeySealed string `json:"key_sealed,omitempty"`
}

// CAOptions are EnsureCA's choices.
type CAOptions struct {
	// KEK seals the CA key in the store and opens it. Nil: the key is stored
	// in the clear (a master without a KEK file; see docs/tls.md), and a
	// sealed key cannot be read.
	KEK *KEK
	// Use is the CA to store when the store has none (the bootstrap master's
	// CA from its disk). If the store holds another CA, EnsureCA fails:
	// the master's disk and the store belong to different clusters.
	Use *CA
	// Wait makes a master that must not create the CA (a master that joined
	// the bootstrap master, whose CA is the cluster's) wait until it is stored.
	Wait bool
	// Logger reports a migration (nil: silent).
	Logger *slog.Logger
}

// EnsureCA returns the cluster CA, storing opts.Use (or a new CA) with a
// create-if-absent write on first use: masters that start at the same time
// all end up with the one CA that won. A plaintext key is re-written sealed
// when opts.KEK is set.
func EnsureCA(ctx context.Context, st *store.Store, opts CAOptions) (*CA, error) {
	ca, err := ensureCA(ctx, st, opts)
	if err != nil {
		return nil, fmt.Errorf("ensure cluster CA: %w", err)
	}
	if opts.Use != nil && ca.Hash() != opts.Use.Hash() {
		return nil, fmt.Errorf("ensure cluster CA: the store holds CA %s, this master's disk CA %s: the data dir belongs to another cluster", ca.Hash(), opts.Use.Hash())
	}
	return ca, nil
}

func ensureCA(ctx context.Context, st *store.Store, opts CAOptions) (*CA, error) {
	for {
		e, err := st.GetKV(ctx, caStoreKey)
		if err == nil {
			var sc storedCA
			if err := json.Unmarshal(e.Value, &sc); err != nil {
				return nil, errors.New("stored CA is not valid JSON") // never quote the value
			}
			keyPEM := []byte(sc.Key)
			if sc.KeySealed != "" {
				if opts.KEK == nil {
					return nil, errors.New("the stored CA key is sealed and this master has no key-encryption key (DATA_DIR/pki/kek)")
				}
				if keyPEM, err = opts.KEK.Open(sc.KeySealed, caStoreKey); err != nil {
					return nil, fmt.Errorf("open the stored CA key: %w", err)
				}
			}
			ca, err := loadCA([]byte(sc.Cert), keyPEM)
			if err != nil {
				return nil, err
			}
			if sc.KeySealed == "" && opts.KEK != nil {
				// Migrate: seal the plaintext key, if nobody changed the record meanwhile.
				sealed, err := opts.KEK.Seal(keyPEM, caStoreKey)
				if err != nil {
					return nil, err
				}
				enc, err := json.Marshal(storedCA{Cert: sc.Cert, KeySealed: sealed})
				if err != nil {
					return nil, err
				}
				err = st.Apply(ctx, store.PutIfRevision(caStoreKey, enc, e.ModRevision))
				if errors.Is(err, store.ErrConflict) {
					continue // another master migrated it first: read again
				}
				if err != nil {
					return nil, fmt.Errorf("seal the stored CA key: %w", err)
				}
				if opts.Logger != nil {
					opts.Logger.Info("sealed the plaintext CA key in the store", "kek_id", opts.KEK.ID())
				}
			}
			return ca, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		if opts.Wait {
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("wait for the bootstrap master to store the CA: %w", ctx.Err())
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		ca := opts.Use
		if ca == nil {
			if ca, err = NewCA(time.Now()); err != nil {
				return nil, err
			}
		}
		kp, err := ca.keyPEM()
		if err != nil {
			return nil, err
		}
		sc := storedCA{Cert: string(ca.certPEM)}
		if opts.KEK != nil {
			if sc.KeySealed, err = opts.KEK.Seal(kp, caStoreKey); err != nil {
				return nil, err
			}
		} else {
			sc.Key = string(kp)
		}
		enc, err := json.Marshal(sc)
		if err != nil {
			return nil, err
		}
		err = st.Apply(ctx, store.PutIfAbsent(caStoreKey, enc))
		if err == nil {
			return ca, nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return nil, err
		}
		// Another master stored its CA first: read that one.
	}
}
