package benchkit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"
)

// Client talks to one HTTP API of the cluster under test (Marathon, the
// master, the Mesos-DNS HTTP API).
type Client struct {
	Base string
	HC   *http.Client
}

// NewClient is a Client of base over tr, with a two-minute timeout.
func NewClient(base string, tr *http.Transport) *Client {
	return &Client{Base: base, HC: &http.Client{Timeout: 2 * time.Minute, Transport: tr}}
}

// Do sends one request (body, if not nil, as JSON) and reads the whole
// answer; it returns the status and the body.
func (c *Client) Do(ctx context.Context, method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HC.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("%s %s: read body: %w", method, path, err)
	}
	return resp.StatusCode, data, nil
}

// Expect is Do that fails unless the status is one of ok.
func (c *Client) Expect(ctx context.Context, method, path string, body any, ok ...int) ([]byte, error) {
	st, data, err := c.Do(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	if slices.Contains(ok, st) {
		return data, nil
	}
	return nil, fmt.Errorf("%s %s: HTTP %d: %.300s", method, path, st, data)
}

// MS is d in milliseconds.
func MS(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// ErrTimeout is WaitUntil's error when the condition did not come true.
var ErrTimeout = errors.New("timed out")

// WaitUntil polls cond every interval until it returns true, an error, or
// timeout passes.
func WaitUntil(timeout, interval time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("wait for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("wait for %s: %w after %s", what, ErrTimeout, timeout)
		}
		time.Sleep(interval)
	}
}
