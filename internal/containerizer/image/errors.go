package image

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// classify turns a registry error into one of the package's errors, with a
// message that says what to check.
func classify(ref Ref, err error) error {
	reg := ref.Registry.Context().RegistryStr()
	var te *transport.Error
	if errors.As(err, &te) {
		if te.Request != nil && te.Request.URL.Path == "/v2/" && te.StatusCode != http.StatusUnauthorized {
			return fmt.Errorf("%w: %s does not answer as a Docker registry (GET /v2/: %d; check the image name): %w", ErrUnreachable, reg, te.StatusCode, err)
		}
		for _, d := range te.Errors {
			switch d.Code {
			case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode:
				return fmt.Errorf("%w: %s is not in registry %s (check the name and tag): %w", ErrNotFound, ref, reg, err)
			case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
				return fmt.Errorf("%w: registry %s refused %s (check the credentials in --docker-config or the image's credential): %w", ErrUnauthorized, reg, ref, err)
			}
		}
		switch te.StatusCode {
		case http.StatusNotFound:
			return fmt.Errorf("%w: %s is not in registry %s (check the name and tag): %w", ErrNotFound, ref, reg, err)
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("%w: registry %s refused %s (check the credentials in --docker-config or the image's credential): %w", ErrUnauthorized, reg, ref, err)
		}
		return fmt.Errorf("pull %s: %w", ref, err)
	}
	var ne net.Error
	var oe *net.OpError
	if errors.As(err, &oe) || (errors.As(err, &ne) && ne.Timeout()) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: cannot reach registry %s for %s (check the name, the agent's network and --docker-registry-timeout): %w", ErrUnreachable, reg, ref, err)
	}
	return fmt.Errorf("pull %s: %w", ref, err)
}
