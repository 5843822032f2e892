// Package client is for outside users.
package client

import "example.com/bad/internal/other"

var _ = other.Do
