package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
)

const clusterIDKey = "cluster/id"

// EnsureClusterID returns the cluster's ID, generating and storing it (a UUID) on first
// use. Every master that calls it concurrently gets the same ID.
func (s *Store) EnsureClusterID(ctx context.Context) (string, error) {
	for {
		id, err := s.Get(ctx, clusterIDKey)
		if err == nil {
			return string(id), nil
		}
		if !errors.Is(err, ErrNotFound) {
			return "", fmt.Errorf("ensure cluster id: %w", err)
		}
		fresh := uuid.NewString()
		err = s.Apply(ctx, PutIfAbsent(clusterIDKey, []byte(fresh)))
		if err == nil {
			return fresh, nil
		}
		if !errors.Is(err, ErrConflict) {
			return "", fmt.Errorf("ensure cluster id: %w", err)
		}
		// Another master won the race: read its ID.
	}
}
