package agentapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// OpenStream opens an agent's event stream: it POSTs call to master (a base
// URL; hc follows the 307 a standby answers with, to the leader) and
// returns the 200 response, whose body is the stream, and the base URL of
// the master that answered. cancel is the stream's context's cancel: a
// master that accepts the connection but sends no headers within stuck is
// given up on. A non-200 answer is an error quoting the master's body.
func OpenStream(ctx context.Context, hc *http.Client, master string, call Call, stuck time.Duration, cancel context.CancelFunc) (*http.Response, string, error) {
	body, err := json.Marshal(call)
	if err != nil {
		return nil, "", fmt.Errorf("encode subscribe: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, master+Path, bytes.NewReader(body))
	if err != nil {
		return nil, "", fmt.Errorf("subscribe to %s: %w", master, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	timer := time.AfterFunc(stuck, cancel)
	resp, err := hc.Do(req)
	timer.Stop()
	if err != nil {
		return nil, "", fmt.Errorf("subscribe to %s: %w", master, err)
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return nil, "", fmt.Errorf("subscribe to %s: %s: %s", master, resp.Status, bytes.TrimSpace(msg))
	}
	leader := resp.Request.URL
	return resp, (&url.URL{Scheme: leader.Scheme, Host: leader.Host}).String(), nil
}
