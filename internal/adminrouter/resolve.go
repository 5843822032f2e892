package adminrouter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxStale is how old a cached document may be and still be used when
// refreshing it fails.
const maxStale = 30 * time.Second

// maxStateBytes bounds the state documents the resolver reads.
const maxStateBytes = 256 << 20

// The wire shapes the resolver reads: only the fields it needs.
type (
	marathonApps struct {
		Apps []marathonApp `json:"apps"`
	}
	marathonApp struct {
		ID        string                  `json:"id"`
		Labels    map[string]string       `json:"labels"`
		Tasks     []marathonTask          `json:"tasks"`
		Container *appContainer           `json:"container"`
		Networks  []struct{ Mode string } `json:"networks"`
	}
	appContainer struct {
		PortMappings []struct {
			ContainerPort int `json:"containerPort"`
		} `json:"portMappings"`
	}
	marathonTask struct {
		ID          string `json:"id"`
		Host        string `json:"host"`
		Ports       []int  `json:"ports"`
		State       string `json:"state"`
		IPAddresses []struct {
			IPAddress string `json:"ipAddress"`
		} `json:"ipAddresses"`
	}
	mesosSummary struct {
		Slaves []struct {
			ID       string `json:"id"`
			PID      string `json:"pid"`
			Hostname string `json:"hostname"`
			Port     int    `json:"port"`
		} `json:"slaves"`
		Frameworks []struct {
			ID       string  `json:"id"`
			Name     string  `json:"name"`
			WebuiURL *string `json:"webui_url"`
		} `json:"frameworks"`
	}
)

// errServiceNotFound: no app or framework has this id.
var errServiceNotFound = errors.New("service not found")

// service is a resolved /service/<id>.
type service struct {
	base    string // http://host:port (or a framework's webui_url)
	rewrite bool   // strip the /service/<id> prefix
	stream  bool   // DCOS_SERVICE_REQUEST_BUFFERING=false: request bodies stream upstream
	srv     string // set instead of base: look this SRV name up in Mesos-DNS
}

// resolver answers "where is service X / agent Y" from cached copies of the
// leading Marathon's apps and the leading master's state summary, as DC/OS
// Admin Router does (it refreshes every 25 s; Basalt's TTL is shorter).
type resolver struct {
	ttl       time.Duration
	upstreams Upstreams
	client    *http.Client

	apps  cache[marathonApps]
	state cache[mesosSummary]
}

func newResolver(ttl time.Duration, up Upstreams, rt http.RoundTripper) *resolver {
	r := &resolver{ttl: ttl, upstreams: up, client: &http.Client{Transport: rt, Timeout: 10 * time.Second}}
	r.apps.fetch = func(ctx context.Context) (marathonApps, error) {
		var v marathonApps
		base, ok := up.MarathonLeader()
		if !ok {
			return v, errors.New("no Marathon leader")
		}
		return v, r.getJSON(ctx, base+"/v2/apps?embed=apps.tasks&label=DCOS_SERVICE_NAME", &v)
	}
	r.state.fetch = func(ctx context.Context) (mesosSummary, error) {
		var v mesosSummary
		base, ok := up.MesosLeader()
		if !ok {
			return v, errors.New("no Mesos leader")
		}
		return v, r.getJSON(ctx, base+"/master/state-summary", &v)
	}
	return r
}

func (r *resolver) getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("get %s: %w", url, err)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("get %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxStateBytes)).Decode(v); err != nil {
		return fmt.Errorf("get %s: decode: %w", url, err)
	}
	return nil
}

// cache holds one document for a TTL. Concurrent misses share one fetch.
type cache[T any] struct {
	fetch func(context.Context) (T, error)

	mu   sync.Mutex
	val  T
	at   time.Time
	have bool
}

func (c *cache[T]) get(ctx context.Context, ttl time.Duration, now time.Time) (T, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.have && now.Sub(c.at) < ttl {
		return c.val, nil
	}
	v, err := c.fetch(ctx)
	if err != nil {
		// During a leader change the fetch fails for a moment: a copy
		// that is not too old still routes (DC/OS serves its cache too).
		if c.have && now.Sub(c.at) < maxStale {
			return c.val, nil
		}
		var zero T
		return zero, err
	}
	c.val, c.at, c.have = v, now, true
	return v, nil
}

// service resolves a candidate id: Marathon apps with the DCOS_SERVICE_*
// labels first (not for marathon and metronome), then frameworks by id,
// then by name.
func (r *resolver) service(ctx context.Context, id string) (service, error) {
	now := time.Now()
	apps, appsErr := r.apps.get(ctx, r.ttl, now)
	if appsErr == nil {
		if s, ok := serviceFromApps(apps, id); ok {
			return s, nil
		}
	}
	st, err := r.state.get(ctx, r.ttl, now)
	if err != nil {
		return service{}, fmt.Errorf("resolve service %s: %w", id, err)
	}
	if s, ok := serviceFromFrameworks(st, id); ok {
		if s.srv != "" {
			return r.serviceBySRV(ctx, id, s.srv)
		}
		return s, nil
	}
	if appsErr != nil {
		return service{}, fmt.Errorf("resolve service %s: %w", id, appsErr)
	}
	return service{}, errServiceNotFound
}

// serviceFromApps is the pure part of app resolution.
func serviceFromApps(apps marathonApps, id string) (service, bool) {
	if id == "marathon" || id == "metronome" {
		return service{}, false
	}
	for _, a := range apps.Apps {
		if a.Labels["DCOS_SERVICE_NAME"] != id {
			continue
		}
		scheme := a.Labels["DCOS_SERVICE_SCHEME"]
		idx, err := strconv.Atoi(a.Labels["DCOS_SERVICE_PORT_INDEX"])
		if (scheme != "http" && scheme != "https") || err != nil || idx < 0 {
			continue
		}
		var running []marathonTask
		for _, t := range a.Tasks {
			if t.State == "TASK_RUNNING" {
				running = append(running, t)
			}
		}
		sort.Slice(running, func(i, j int) bool { return running[i].ID < running[j].ID })
		for _, t := range running {
			host, port := t.Host, 0
			if containerNetwork(a) && a.Container != nil && idx < len(a.Container.PortMappings) &&
				a.Container.PortMappings[idx].ContainerPort != 0 && len(t.IPAddresses) > 0 {
				host, port = t.IPAddresses[0].IPAddress, a.Container.PortMappings[idx].ContainerPort
			} else if idx < len(t.Ports) {
				port = t.Ports[idx]
			}
			if host == "" || port == 0 {
				continue
			}
			return service{
				base:    scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port)),
				rewrite: !strings.EqualFold(a.Labels["DCOS_SERVICE_REWRITE_REQUEST_URLS"], "false"),
				stream:  strings.EqualFold(a.Labels["DCOS_SERVICE_REQUEST_BUFFERING"], "false"),
			}, true
		}
	}
	return service{}, false
}

func containerNetwork(a marathonApp) bool {
	for _, n := range a.Networks {
		if n.Mode == "container" {
			return true
		}
	}
	return false
}

// serviceFromFrameworks resolves by framework id, then name: a non-empty
// webui_url is the upstream; an empty one (not null) means "find the
// framework's scheduler in Mesos-DNS", as DC/OS does: the SRV name of the
// Marathon app named like the framework (srv set, base empty).
func serviceFromFrameworks(st mesosSummary, id string) (service, bool) {
	for _, byName := range []bool{false, true} {
		for _, f := range st.Frameworks {
			key := f.ID
			if byName {
				key = f.Name
			}
			if key != id || f.WebuiURL == nil {
				continue
			}
			if *f.WebuiURL != "" {
				return service{base: *f.WebuiURL, rewrite: true}, true
			}
			if name := srvName(f.Name); name != "" {
				return service{srv: name, rewrite: true}, true
			}
		}
	}
	return service{}, false
}

// srvName is the Mesos-DNS SRV name of the Marathon app a framework's
// scheduler runs as: "/data/kafka" → "_kafka.data._tcp.marathon.mesos".
func srvName(framework string) string {
	segs := strings.Split(strings.Trim(framework, "/"), "/")
	for i, s := range segs {
		if s == "" || strings.ContainsAny(s, " \t.%?#") {
			return ""
		}
		segs[i] = strings.ToLower(s)
	}
	slices.Reverse(segs)
	return "_" + strings.Join(segs, ".") + "._tcp.marathon.mesos"
}

// serviceBySRV asks this master's Mesos-DNS for the SRV records of name and
// picks the first (sorted, so every master picks the same one).
func (r *resolver) serviceBySRV(ctx context.Context, id, name string) (service, error) {
	base := r.upstreams.MesosDNS()
	if base == "" {
		return service{}, fmt.Errorf("resolve service %s: %s needs Mesos-DNS, which is off", id, name)
	}
	var recs []struct {
		Host string `json:"host"`
		IP   string `json:"ip"`
		Port string `json:"port"`
	}
	if err := r.getJSON(ctx, base+"/v1/services/"+name, &recs); err != nil {
		return service{}, fmt.Errorf("resolve service %s by SRV %s: %w", id, name, err)
	}
	var addrs []string
	for _, rec := range recs {
		host := rec.IP
		if host == "" {
			host = rec.Host
		}
		if p, err := strconv.Atoi(rec.Port); err == nil && p > 0 && p < 65536 && host != "" {
			addrs = append(addrs, net.JoinHostPort(host, rec.Port))
		}
	}
	if len(addrs) == 0 {
		return service{}, errServiceNotFound
	}
	sort.Strings(addrs)
	return service{base: "http://" + addrs[0], rewrite: true}, nil
}

// errAgentNotFound: the master does not know the agent.
var errAgentNotFound = errors.New("agent not found")

// agent returns the base URL of an agent's HTTP API.
func (r *resolver) agent(ctx context.Context, id string) (string, error) {
	st, err := r.state.get(ctx, r.ttl, time.Now())
	if err != nil {
		return "", fmt.Errorf("resolve agent %s: %w", id, err)
	}
	if u, ok := agentURL(st, id); ok {
		return u, nil
	}
	// A new agent may have registered since the cache was filled.
	st, err = r.state.refresh(ctx, time.Now())
	if err != nil {
		return "", fmt.Errorf("resolve agent %s: %w", id, err)
	}
	if u, ok := agentURL(st, id); ok {
		return u, nil
	}
	return "", errAgentNotFound
}

// agentURL reads the agent's address from its pid (slave(1)@ip:port), else
// its hostname and port.
func agentURL(st mesosSummary, id string) (string, bool) {
	for _, s := range st.Slaves {
		if s.ID != id {
			continue
		}
		if _, hp, ok := strings.Cut(s.PID, "@"); ok && hp != "" {
			return "http://" + hp, true
		}
		if s.Hostname != "" && s.Port != 0 {
			return "http://" + net.JoinHostPort(s.Hostname, strconv.Itoa(s.Port)), true
		}
	}
	return "", false
}

// refresh fetches now, unless another caller just did.
func (c *cache[T]) refresh(ctx context.Context, now time.Time) (T, error) {
	c.mu.Lock()
	c.have = c.have && now.Sub(c.at) < 100*time.Millisecond
	c.mu.Unlock()
	return c.get(ctx, time.Hour, now)
}
