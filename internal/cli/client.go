package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/basalt-dcos/basalt/internal/cli/clusterstore"
	"github.com/basalt-dcos/basalt/internal/config"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// ClientConfig is what every client command needs to reach the cluster.
//
// Without --master (or BASALT_MASTER_URL) the commands talk to the attached
// cluster (basalt cluster setup) through its Admin Router: the master at
// <url>/mesos (or core.mesos_master_url), agents at <url>/agent/<id>, with
// the stored token and TLS settings. With no attached cluster they talk to
// a master on this host. An explicit --master gets no token unless --token
// or BASALT_TOKEN gives one: a token is never sent to a URL it was not
// issued for by accident.
type ClientConfig struct {
	Master  string        `flag:"master" env:"BASALT_MASTER_URL" help:"base URL of any master; standby masters redirect to the leader (default: the attached cluster's <url>/mesos, else http://127.0.0.1:5050)"`
	Token   string        `flag:"token" env:"BASALT_TOKEN" help:"auth token to send as \"Authorization: token=...\" (default: the attached cluster's token when --master is not given)"`
	Timeout time.Duration `flag:"timeout" help:"timeout of each HTTP request (default: the attached cluster's core.timeout, else 30s)"`
}

// defaultMasterURL is a master on this host's DC/OS port, the target when
// neither --master nor an attached cluster says otherwise.
const defaultMasterURL = "http://127.0.0.1:5050"

// DefaultClientConfig leaves the target to the attached cluster.
func DefaultClientConfig() ClientConfig { return ClientConfig{} }

// clientFlags binds the client config (and --json) to cmd and returns a
// function that loads it and builds the API client.
func clientFlags(cmd *cobra.Command, env Env) (func() (*apiClient, error), *bool) {
	cfg := DefaultClientConfig()
	loader, err := config.Bind(cmd.Flags(), &cfg)
	asJSON := cmd.Flags().Bool("json", false, "print the raw API JSON")
	return func() (*apiClient, error) {
		if err != nil {
			return nil, err // a programming error in the Config tags
		}
		if err := loader.Load(env.lookupEnv); err != nil {
			return nil, usageError{err}
		}
		return newAPIClient(cfg, env)
	}, asJSON
}

// apiClient reads the master's and agents' HTTP endpoints.
type apiClient struct {
	master *url.URL
	http   *http.Client
	token  string   // sent as Authorization: token=<token> when set
	router *url.URL // the attached cluster's Admin Router; nil: talk to masters and agents directly
}

func newAPIClient(cfg ClientConfig, env Env) (*apiClient, error) {
	if cfg.Timeout < 0 {
		return nil, usageError{fmt.Errorf("--timeout %v: must not be negative", cfg.Timeout)}
	}
	if cfg.Master == "" {
		cl, err := attachedCluster(env)
		if err != nil {
			return nil, err
		}
		if cl != nil {
			dc, err := clientFor(cl, cfg.Timeout)
			if err != nil {
				return nil, err
			}
			master := dc.base.JoinPath("mesos")
			if m, ok := cl.Config.Get(clusterstore.KeyMesosURL); ok && m != "" {
				if master, err = parseClusterURL(m); err != nil {
					return nil, fmt.Errorf("cluster %s: core.mesos_master_url: %w", cl.Name(), err)
				}
			}
			tok := dc.token
			if cfg.Token != "" {
				tok = cfg.Token
			}
			return &apiClient{master: master, http: dc.http, token: tok, router: dc.base}, nil
		}
		cfg.Master = defaultMasterURL
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = defaultClusterTimeout
	}
	u, err := url.Parse(strings.TrimRight(cfg.Master, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageError{fmt.Errorf("--master %q: want a URL like http://127.0.0.1:5050", cfg.Master)}
	}
	// The default client follows the 307 a standby master answers with, to
	// the leader, for GETs; that is all the client commands do.
	return &apiClient{master: u, http: &http.Client{Timeout: cfg.Timeout}, token: cfg.Token}, nil
}

// authorize adds the token to req.
func (c *apiClient) authorize(req *http.Request) {
	if c.token != "" {
		req.Header.Set("Authorization", "token="+c.token)
	}
}

// unauthorizedHint is appended to a 401: what the user can do about it.
func (c *apiClient) unauthorizedHint() string {
	if c.router != nil {
		return `the cluster wants a valid login: run "basalt auth login"`
	}
	return "the master wants a valid token: give --token or BASALT_TOKEN"
}

// get fetches base+path and returns the body of a 2xx answer.
func (c *apiClient) get(ctx context.Context, base *url.URL, path string, query url.Values) ([]byte, error) {
	u := *base
	u.Path = strings.TrimRight(u.Path, "/") + path
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	c.authorize(req)
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() == nil && base == c.master && c.router == nil {
			return nil, fmt.Errorf("%w (is a master running there? use --master or BASALT_MASTER_URL)", explainTransportError("GET", u.Redacted(), err))
		}
		return nil, explainTransportError("GET", u.Redacted(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u.Redacted(), err)
	}
	if resp.StatusCode/100 != 2 {
		msg := strings.TrimSpace(string(body))
		if len(msg) > 512 {
			msg = msg[:512] + "..."
		}
		if m := apiMessage(body); m != "" && json.Valid(body) {
			msg = m // IAM's description of a 403, rather than its JSON
		}
		if resp.StatusCode == http.StatusUnauthorized {
			return nil, fmt.Errorf("GET %s: %s: %s", u.Redacted(), resp.Status, c.unauthorizedHint())
		}
		return nil, fmt.Errorf("GET %s: %s: %s", u.Redacted(), resp.Status, msg)
	}
	return body, nil
}

// operator posts a v1 operator call (POST /api/v1) to the master; a standby
// answers 307, which the client follows with the body.
func (c *apiClient) operator(ctx context.Context, call mesosv1.OperatorCall) error {
	body, err := json.Marshal(call)
	if err != nil {
		return err
	}
	u := *c.master
	u.Path = strings.TrimRight(u.Path, "/") + "/api/v1"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	c.authorize(req)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", call.Type, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode == http.StatusUnauthorized {
		return fmt.Errorf("%s: %s: %s", call.Type, resp.Status, c.unauthorizedHint())
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s: %s: %s", call.Type, resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}

// masterState is /master/state decoded twice from the same bytes: typed for
// the logic, raw so --json prints exactly what the API said. Indexes agree.
type masterState struct {
	mesosv1.StateResponse
	raw struct {
		Slaves              []json.RawMessage `json:"slaves"`
		Frameworks          []rawFramework    `json:"frameworks"`
		CompletedFrameworks []rawFramework    `json:"completed_frameworks"`
	}
}

type rawFramework struct {
	self             json.RawMessage
	Tasks            []json.RawMessage `json:"tasks"`
	CompletedTasks   []json.RawMessage `json:"completed_tasks"`
	UnreachableTasks []json.RawMessage `json:"unreachable_tasks"`
}

func (f *rawFramework) UnmarshalJSON(b []byte) error {
	type plain rawFramework
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*f = rawFramework(p)
	f.self = append(json.RawMessage(nil), b...)
	return nil
}

func (c *apiClient) masterState(ctx context.Context) (*masterState, error) {
	body, err := c.get(ctx, c.master, "/master/state", nil)
	if err != nil {
		return nil, err
	}
	return parseMasterState(body)
}

func parseMasterState(body []byte) (*masterState, error) {
	var s masterState
	if err := json.Unmarshal(body, &s.StateResponse); err != nil {
		return nil, fmt.Errorf("decode /master/state: %w", err)
	}
	if err := json.Unmarshal(body, &s.raw); err != nil {
		return nil, fmt.Errorf("decode /master/state: %w", err)
	}
	if len(s.raw.Slaves) != len(s.Slaves) || len(s.raw.Frameworks) != len(s.Frameworks) ||
		len(s.raw.CompletedFrameworks) != len(s.CompletedFrameworks) {
		return nil, errors.New("decode /master/state: inconsistent document")
	}
	return &s, nil
}

func (s *masterState) agent(id string) (*mesosv1.StateAgent, bool) {
	for i := range s.Slaves {
		if s.Slaves[i].ID == id {
			return &s.Slaves[i], true
		}
	}
	return nil, false
}

// pidHostPort returns the "ip:port" of a libprocess pid such as
// "slave(1)@10.0.0.1:5051" or "master@10.0.0.2:5050".
func pidHostPort(pid string) (string, bool) {
	_, hp, ok := strings.Cut(pid, "@")
	if !ok {
		return "", false
	}
	if _, _, err := net.SplitHostPort(hp); err != nil {
		return "", false
	}
	return hp, true
}

// pidIP returns the IP of a libprocess pid, or "".
func pidIP(pid string) string {
	hp, ok := pidHostPort(pid)
	if !ok {
		return ""
	}
	h, _, _ := net.SplitHostPort(hp)
	return h
}

// agentURL is the base URL of an agent's HTTP API: through the attached
// cluster's Admin Router (<url>/agent/<id>), else from its pid or its
// hostname and port, with the master's scheme.
func (c *apiClient) agentURL(a *mesosv1.StateAgent) (*url.URL, error) {
	if c.router != nil {
		if a.ID == "" || strings.ContainsAny(a.ID, "/\\?#%") || a.ID == "." || a.ID == ".." {
			// Never let a strange ID steer the token to another route.
			return nil, fmt.Errorf("agent ID %q: not usable in an Admin Router path", a.ID)
		}
		return c.router.JoinPath("agent", a.ID), nil
	}
	hp, ok := pidHostPort(a.PID)
	if !ok {
		if a.Hostname == "" || a.Port == 0 {
			return nil, fmt.Errorf("agent %s: no address in its pid %q", a.ID, a.PID)
		}
		hp = net.JoinHostPort(a.Hostname, strconv.Itoa(a.Port))
	}
	return &url.URL{Scheme: c.master.Scheme, Host: hp}, nil
}

// printJSON writes v indented, as the --json output of every command.
func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
