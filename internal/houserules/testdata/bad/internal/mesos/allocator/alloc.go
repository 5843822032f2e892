// Package allocator is a domain package.
package allocator

import (
	"errors"
	"example.com/bad/internal/cli"
	"net/http"
)

// ErrX is fine: errors are read-only by construction.
var ErrX = errors.New("x")

var _ = http.StatusOK
var _ = cli.X
