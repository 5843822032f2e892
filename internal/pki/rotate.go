package pki

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/basalt-dcos/basalt/internal/store"
)

// previousSecretStoreKey holds the join secret a rotation replaced, with
// the end of its grace period.
const previousSecretStoreKey = "pki/join-secret-previous"

// previousSecret is the replaced join secret and until when it still joins.
type previousSecret struct {
	Secret string    `json:"secret"`
	Until  time.Time `json:"until"`
}

// JoinSecrets returns the node join secrets accepted at now: the current
// one, and the one a rotation replaced while its grace period lasts.
func JoinSecrets(ctx context.Context, st *store.Store, now time.Time) ([]string, error) {
	kvs, err := st.List(ctx, "pki/join-secret")
	if err != nil {
		return nil, fmt.Errorf("join secrets: %w", err)
	}
	var cur string
	var prev []string
	for _, kv := range kvs {
		switch kv.Key {
		case secretStoreKey:
			cur = string(kv.Value)
		case previousSecretStoreKey:
			var p previousSecret
			if json.Unmarshal(kv.Value, &p) == nil && now.Before(p.Until) {
				prev = append(prev, p.Secret)
			}
		}
	}
	if cur == "" {
		return nil, errors.New("join secrets: the cluster has no join secret yet")
	}
	return append([]string{cur}, prev...), nil
}

// RotateJoinSecret replaces the node join secret with a new random one and
// keeps the old one valid for grace (0: refused at once). Nodes that joined
// keep their certificates: only new joins need the new token. Two
// rotations at once: one wins, the other fails with store.ErrConflict.
func RotateJoinSecret(ctx context.Context, st *store.Store, ca *CA, grace time.Duration, now time.Time) (JoinToken, error) {
	if grace < 0 {
		return JoinToken{}, errors.New("rotate join secret: grace must not be negative")
	}
	kv, err := st.GetKV(ctx, secretStoreKey)
	if err != nil {
		return JoinToken{}, fmt.Errorf("rotate join secret: %w", err)
	}
	secret, err := newSecret()
	if err != nil {
		return JoinToken{}, err
	}
	prev, err := json.Marshal(previousSecret{Secret: string(kv.Value), Until: now.Add(grace).UTC()})
	if err != nil {
		return JoinToken{}, err
	}
	if err := st.Apply(ctx, store.PutIfRevision(secretStoreKey, []byte(secret), kv.ModRevision), store.Put(previousSecretStoreKey, prev)); err != nil {
		return JoinToken{}, fmt.Errorf("rotate join secret: %w", err)
	}
	return JoinToken{CAHash: ca.Hash(), Secret: secret}, nil
}
