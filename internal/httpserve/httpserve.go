// Package httpserve runs an *http.Server for as long as a context lives, the
// way every Basalt component serves HTTP: serve until the context ends, then
// shut down gracefully within a grace period and close what is left.
package httpserve

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// Run serves srv on ln until ctx is done or serving fails. When ctx ends it
// first waits for before, if not nil (a component that must end its own
// streams first, so that Shutdown does not wait on them), then gives the
// requests in flight grace to finish and closes the connections still open.
// It returns the error that stopped serving, or nil after a shutdown.
func Run(ctx context.Context, srv *http.Server, ln net.Listener, grace time.Duration, before <-chan struct{}) error {
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return closedIsNil(err)
	case <-ctx.Done():
	}
	if before != nil {
		<-before
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
	}
	return closedIsNil(<-served)
}

func closedIsNil(err error) error {
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
