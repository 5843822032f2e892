package pki

// The node join secret in the store:
//
//	pki/join-secret           the current secret, sealed with the KEK and bound
//	                          to this key (a bkek1 envelope); a master without a
//	                          KEK keeps it in the clear, as it does the CA key
//	pki/join-secret-previous  {"secret": <sealed>, "until": <RFC 3339>}: the
//	                          secret a rotation replaced, valid until "until"
//
// A secret written in the clear (by a cluster from before sealing, or by a
// master without a KEK) is sealed by the first master that starts with a
// KEK, with a compare-and-swap write, as EnsureCA does for the CA key.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/basalt-dcos/basalt/internal/store"
)

// previousSecretStoreKey holds the join secret a rotation replaced, with
// the end of its grace period.
const previousSecretStoreKey = "pki/join-secret-previous"

// previousSecret is the replaced join secret (sealed like the current one)
// and until when it still joins.
type previousSecret struct {
	Secret string    `json:"secret"`
	Until  time.Time `json:"until"`
}

// sealSecret seals secret for the store key aad (kek nil: the clear text).
func sealSecret(kek *KEK, secret, aad string) (string, error) {
	if kek == nil {
		return secret, nil
	}
	return kek.Seal([]byte(secret), aad)
}

// openSecret reads a stored join secret: an envelope is opened with kek, a
// clear one is returned with clear set (to be sealed when kek is not nil).
// Errors never quote the value.
func openSecret(kek *KEK, value, aad string) (secret string, clear bool, err error) {
	if IsEnvelope(value) {
		if kek == nil {
			return "", false, errors.New("the join secret is sealed and this master has no key-encryption key (DATA_DIR/pki/kek)")
		}
		pt, err := kek.Open(value, aad)
		if err != nil {
			return "", false, fmt.Errorf("open the join secret: %w", err)
		}
		value = string(pt)
	} else {
		clear = true
	}
	if err := checkSecret(value); err != nil {
		return "", false, errors.New("the stored join secret is malformed")
	}
	return value, clear, nil
}

// EnsureJoinToken returns the cluster's join token for ca, generating its
// secret (32 random bytes, hex) and storing it sealed with kek,
// create-if-absent, on first use. With kek set, a secret (and a rotated-out
// one) stored in the clear is sealed in place.
func EnsureJoinToken(ctx context.Context, st *store.Store, ca *CA, kek *KEK, logger *slog.Logger) (JoinToken, error) {
	tok, err := ensureJoinToken(ctx, st, ca, kek, logger)
	if err != nil {
		return JoinToken{}, fmt.Errorf("ensure join token: %w", err)
	}
	return tok, nil
}

func ensureJoinToken(ctx context.Context, st *store.Store, ca *CA, kek *KEK, logger *slog.Logger) (JoinToken, error) {
	for {
		kv, err := st.GetKV(ctx, secretStoreKey)
		if err == nil {
			secret, clear, err := openSecret(kek, string(kv.Value), secretStoreKey)
			if err != nil {
				return JoinToken{}, err
			}
			if clear && kek != nil {
				sealed, err := sealSecret(kek, secret, secretStoreKey)
				if err != nil {
					return JoinToken{}, err
				}
				err = st.Apply(ctx, store.PutIfRevision(secretStoreKey, []byte(sealed), kv.ModRevision))
				if errors.Is(err, store.ErrConflict) {
					continue // another master sealed (or rotated) it first: read again
				}
				if err != nil {
					return JoinToken{}, fmt.Errorf("seal the join secret: %w", err)
				}
				if logger != nil {
					logger.Info("sealed the clear join secret in the store", "kek_id", kek.ID())
				}
			}
			if kek != nil {
				if err := sealPrevious(ctx, st, kek); err != nil {
					return JoinToken{}, err
				}
			}
			return JoinToken{CAHash: ca.Hash(), Secret: secret}, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return JoinToken{}, err
		}
		secret, err := newSecret()
		if err != nil {
			return JoinToken{}, err
		}
		stored, err := sealSecret(kek, secret, secretStoreKey)
		if err != nil {
			return JoinToken{}, err
		}
		err = st.Apply(ctx, store.PutIfAbsent(secretStoreKey, []byte(stored)))
		if err == nil {
			return JoinToken{CAHash: ca.Hash(), Secret: secret}, nil
		}
		if !errors.Is(err, store.ErrConflict) {
			return JoinToken{}, err
		}
		// Another master stored its secret first: read that one.
	}
}

// sealPrevious seals a rotated-out secret stored in the clear.
func sealPrevious(ctx context.Context, st *store.Store, kek *KEK) error {
	for {
		kv, err := st.GetKV(ctx, previousSecretStoreKey)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		var p previousSecret
		if json.Unmarshal(kv.Value, &p) != nil || IsEnvelope(p.Secret) {
			return nil // sealed already (or unreadable, and so never accepted)
		}
		if p.Secret, err = sealSecret(kek, p.Secret, previousSecretStoreKey); err != nil {
			return err
		}
		b, err := json.Marshal(p)
		if err != nil {
			return err
		}
		err = st.Apply(ctx, store.PutIfRevision(previousSecretStoreKey, b, kv.ModRevision))
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("seal the previous join secret: %w", err)
		}
		return nil
	}
}

// JoinSecrets returns the node join secrets accepted at now: the current
// one, and the one a rotation replaced while its grace period lasts. kek
// opens them (nil: only secrets stored in the clear can be read).
func JoinSecrets(ctx context.Context, st *store.Store, kek *KEK, now time.Time) ([]string, error) {
	kvs, err := st.List(ctx, "pki/join-secret")
	if err != nil {
		return nil, fmt.Errorf("join secrets: %w", err)
	}
	var cur string
	var prev []string
	for _, kv := range kvs {
		switch kv.Key {
		case secretStoreKey:
			if cur, _, err = openSecret(kek, string(kv.Value), secretStoreKey); err != nil {
				return nil, fmt.Errorf("join secrets: %w", err)
			}
		case previousSecretStoreKey:
			var p previousSecret
			if json.Unmarshal(kv.Value, &p) != nil || !now.Before(p.Until) {
				continue
			}
			// A previous secret that does not open is not accepted: it only
			// ever widens who may join.
			if s, _, err := openSecret(kek, p.Secret, previousSecretStoreKey); err == nil {
				prev = append(prev, s)
			}
		}
	}
	if cur == "" {
		return nil, errors.New("join secrets: the cluster has no join secret yet")
	}
	return append([]string{cur}, prev...), nil
}

// RotateJoinSecret replaces the node join secret with a new random one and
// keeps the old one valid for grace (0: refused at once); both are stored
// sealed with kek. Nodes that joined keep their certificates: only new joins
// need the new token. Two rotations at once: one wins, the other fails with
// store.ErrConflict.
func RotateJoinSecret(ctx context.Context, st *store.Store, ca *CA, kek *KEK, grace time.Duration, now time.Time) (JoinToken, error) {
	if grace < 0 {
		return JoinToken{}, errors.New("rotate join secret: grace must not be negative")
	}
	kv, err := st.GetKV(ctx, secretStoreKey)
	if err != nil {
		return JoinToken{}, fmt.Errorf("rotate join secret: %w", err)
	}
	old, _, err := openSecret(kek, string(kv.Value), secretStoreKey)
	if err != nil {
		return JoinToken{}, fmt.Errorf("rotate join secret: %w", err)
	}
	secret, err := newSecret()
	if err != nil {
		return JoinToken{}, err
	}
	cur, err := sealSecret(kek, secret, secretStoreKey)
	if err != nil {
		return JoinToken{}, err
	}
	oldSealed, err := sealSecret(kek, old, previousSecretStoreKey)
	if err != nil {
		return JoinToken{}, err
	}
	prev, err := json.Marshal(previousSecret{Secret: oldSealed, Until: now.Add(grace).UTC()})
	if err != nil {
		return JoinToken{}, err
	}
	if err := st.Apply(ctx, store.PutIfRevision(secretStoreKey, []byte(cur), kv.ModRevision), store.Put(previousSecretStoreKey, prev)); err != nil {
		return JoinToken{}, fmt.Errorf("rotate join secret: %w", err)
	}
	return JoinToken{CAHash: ca.Hash(), Secret: secret}, nil
}
