package scheduler

import (
	"errors"
	"fmt"
	"net/http"
)

// Sentinel errors. Errors from calls and from Run wrap one of them where it
// applies; test with errors.Is.
var (
	// ErrNotSubscribed: there is no live subscription (the client has not
	// received SUBSCRIBED yet, or is reconnecting), or the master answered 403.
	ErrNotSubscribed = errors.New("scheduler: not subscribed")
	// ErrNotLeader: the master answered 307; the client re-subscribes to the leader.
	ErrNotLeader = errors.New("scheduler: master is not the leader")
	// ErrBadRequest: the master rejected the call as malformed (400).
	ErrBadRequest = errors.New("scheduler: bad request")
	// ErrUnauthorized: the master wants credentials (401).
	ErrUnauthorized = errors.New("scheduler: unauthorized")
	// ErrUnavailable: the master cannot serve now (503, e.g. still recovering).
	ErrUnavailable = errors.New("scheduler: master unavailable")
	// ErrFrameworkRemoved: the master sent an ERROR event; the framework is
	// gone (torn down, failover timeout passed) and Run stops.
	ErrFrameworkRemoved = errors.New("scheduler: framework removed")
)

// HTTPError is a call or subscription the master answered with an error status.
type HTTPError struct {
	Call       string // call type, e.g. "ACCEPT"
	StatusCode int
	Message    string // the response body (trimmed, size-limited)
}

func (e *HTTPError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("scheduler: %s: %d %s", e.Call, e.StatusCode, http.StatusText(e.StatusCode))
	}
	return fmt.Sprintf("scheduler: %s: %d %s: %s", e.Call, e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// Unwrap maps the status code to the matching sentinel error, if any.
func (e *HTTPError) Unwrap() error {
	switch e.StatusCode {
	case http.StatusTemporaryRedirect:
		return ErrNotLeader
	case http.StatusBadRequest:
		return ErrBadRequest
	case http.StatusUnauthorized:
		return ErrUnauthorized
	case http.StatusForbidden:
		return ErrNotSubscribed
	case http.StatusServiceUnavailable:
		return ErrUnavailable
	}
	return nil
}

// permanentError marks a subscription failure that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }
