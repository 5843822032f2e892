package store

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Member is one entry of the static initial cluster: an embedded etcd member's name and the
// peer URL the other members reach it on.
type Member struct {
	Name    string
	PeerURL string
}

// TLSFiles names the PEM files of the store's mutual TLS. The certificate
// must be valid for both server and client authentication: an embedded
// member presents it to clients, to its peers and, as a client, to the peers
// it dials. etcd reads the files again on every handshake, so they can be
// replaced in place (a renewal) without a restart.
type TLSFiles struct {
	// CAFile is the CA bundle that clients' and peers' certificates must chain to
	// (and, for the Store's own client, the member's).
	CAFile string
	// CertFile and KeyFile are this process's certificate and private key.
	CertFile string
	KeyFile  string
}

func (f *TLSFiles) validate() []error {
	var errs []error
	for _, p := range []struct{ what, v string }{{"CA file", f.CAFile}, {"cert file", f.CertFile}, {"key file", f.KeyFile}} {
		if p.v == "" {
			errs = append(errs, fmt.Errorf("store: TLS %s is required", p.what))
		}
	}
	return errs
}

// Config configures a Store. The zero value of every field means "use the default"; see
// the Default* constants. A Store is either embedded (DataDir set: this process runs an
// etcd member) or external (Endpoints set: this process is only a client).
type Config struct {
	// Name is this member's etcd name; it must appear in InitialCluster when that is set.
	// Default "basalt".
	Name string
	// DataDir holds the member's etcd data (the "member" directory). Required when
	// embedded. A restart with an existing DataDir rejoins the cluster it belonged to.
	DataDir string
	// ClientURL is where the member serves etcd clients (listen and advertise), e.g.
	// "http://10.0.0.1:2379". Default: a free loopback port chosen at Open, which never
	// collides with a system etcd.
	ClientURL string
	// PeerURL is where the member serves its peers (listen and advertise). Default: this
	// member's entry in InitialCluster, else a free loopback port chosen at Open (fine for
	// a single member, whose peer URL nobody dials).
	PeerURL string
	// InitialCluster is the static --masters list. Empty means a single-member cluster of
	// {Name, PeerURL}. Only read when DataDir holds no data yet.
	InitialCluster []Member
	// ClusterToken distinguishes clusters that bootstrap from similar member lists.
	// Default "basalt".
	ClusterToken string

	// TLS, when set, turns on mutual TLS: an embedded member serves its client and peer
	// URLs (which must then be https://) only to holders of a certificate from
	// TLS.CAFile, and the Store's client presents TLS.CertFile. With Endpoints it only
	// configures the client. Nil: plain HTTP, for a member on loopback or a trusted network.
	TLS *TLSFiles

	// Endpoints selects an external etcd cluster: no embedded member runs, and DataDir,
	// ClientURL, PeerURL and InitialCluster must be empty.
	Endpoints []string

	// Prefix is the root of every key this Store reads or writes. Default "/basalt".
	Prefix string

	// HeartbeatInterval is etcd's raft heartbeat (rounded to milliseconds). Default 50ms,
	// for fast failover on a LAN or loopback.
	HeartbeatInterval time.Duration
	// ElectionTimeout is etcd's raft election timeout; at least 5 heartbeats. Default 500ms.
	ElectionTimeout time.Duration
	// SessionTTL is the lease TTL behind leader elections: how long a crashed leader keeps
	// its leadership. etcd leases have whole-second TTLs (rounded up here) and a floor of
	// 1.5 election timeouts. Default 3s (DefaultSessionTTL) with several members. The
	// trade-off: a crashed leader keeps its leadership for up to the TTL, so a shorter
	// lease fails over faster (measured on loopback with 3 members, an idle box: p50 1.2s
	// / max 2.7s with 1s, p50 3.3s / max 3.8s with 2s; BenchmarkElectionFailover), but a
	// leader whose process is starved of CPU for a TTL loses its lease although it is
	// alive, and every loss of leadership restarts the Mesos kernel (every agent and
	// framework stream is cut) or Marathon. At 1,000 simulated agents on a 2-core host
	// shared with other builds, the 1s lease this used to be made the two surviving
	// masters swap leadership four times in 13s after a kill -9 of the leader; 3s rides
	// out a few seconds of starvation, and a crashed leader's lease then lasts up to
	// about 3.5s (about 2s longer than with 1s) before a standby leads; the time agents
	// and Marathon need to come back is counted on top. A clean stop resigns at once. Candidates that lost
	// campaign again until their context ends. Lower it (--store-session-ttl 1s) on idle,
	// dedicated hosts where failover time matters most.
	// A leader whose member is not the raft leader (KeepRaftLeaderAway) fails over in
	// about TTL/2..TTL (its last keepalive) plus up to 0.5s (etcd checks expiry twice a
	// second). A single embedded member defaults to DefaultSingleMemberSessionTTL instead:
	// with no standby to take over, a short TTL buys nothing, and on one loaded host (basalt
	// up starting a hundred tasks) a 1s lease expired under CPU starvation and every
	// component lost and re-won its leadership; at 10,000 simulated agents on a 2-core
	// host shared with other builds a 5s lease expired too (the master restarted its
	// kernel and cut every agent stream), and so did a 10s one when the whole process
	// (etcd included) stalled for 11s on that box, so it is 15s. The price: a single
	// master that crashed waits up to that long for its old lease before it leads
	// again (a clean stop resigns at once).
	SessionTTL time.Duration
	// RequestTimeout bounds each etcd request the Store makes on its own behalf (group
	// commits, resignations, dialing). Default 5s.
	RequestTimeout time.Duration

	// MaxTxnOps is the most operations in one etcd transaction. Default 10000.
	MaxTxnOps int
	// MaxRequestBytes is the largest etcd request. Default 4 MiB.
	MaxRequestBytes int
	// SnapshotCount is how many applied entries trigger an etcd snapshot. Default 10000.
	SnapshotCount uint64
	// AutoCompactionRetention keeps this much revision history (periodic compaction), so a
	// watcher that falls behind less than this resumes without a resync. Default 10m.
	AutoCompactionRetention time.Duration
	// QuotaBackendBytes is the etcd database size limit. Default 4 GiB.
	QuotaBackendBytes int64
}

// Defaults applied by Open to zero-valued Config fields.
const (
	DefaultName                    = "basalt"
	DefaultClusterToken            = "basalt"
	DefaultPrefix                  = "/basalt"
	DefaultHeartbeatInterval       = 50 * time.Millisecond
	DefaultElectionTimeout         = 500 * time.Millisecond
	DefaultSessionTTL              = 3 * time.Second
	DefaultSingleMemberSessionTTL  = 15 * time.Second
	DefaultRequestTimeout          = 5 * time.Second
	DefaultMaxTxnOps               = 10000
	DefaultMaxRequestBytes         = 4 << 20
	DefaultSnapshotCount           = 10000
	DefaultAutoCompactionRetention = 10 * time.Minute
	DefaultQuotaBackendBytes       = 4 << 30
)

// Embedded reports whether the configuration runs an embedded etcd member.
func (c Config) Embedded() bool { return len(c.Endpoints) == 0 }

// Validate reports every problem with the configuration at once. Zero values are valid
// (they mean "default").
func (c Config) Validate() error {
	var errs []error
	if c.Embedded() {
		if c.DataDir == "" {
			errs = append(errs, errors.New("store: data dir is required for an embedded member (or set endpoints)"))
		}
		for _, u := range []struct{ what, v string }{{"client URL", c.ClientURL}, {"peer URL", c.PeerURL}} {
			if u.v != "" {
				if err := checkURL(u.v, c.TLS != nil); err != nil {
					errs = append(errs, fmt.Errorf("store: %s: %w", u.what, err))
				}
			}
		}
		if len(c.InitialCluster) > 0 {
			name := c.Name
			if name == "" {
				name = DefaultName
			}
			seen := map[string]bool{}
			found := false
			for _, m := range c.InitialCluster {
				if m.Name == "" {
					errs = append(errs, errors.New("store: initial cluster: member with empty name"))
					continue
				}
				if seen[m.Name] {
					errs = append(errs, fmt.Errorf("store: initial cluster: duplicate member %q", m.Name))
				}
				seen[m.Name] = true
				if err := checkURL(m.PeerURL, c.TLS != nil); err != nil {
					errs = append(errs, fmt.Errorf("store: initial cluster: member %q: %w", m.Name, err))
				}
				if m.Name == name {
					found = true
					if c.PeerURL != "" && c.PeerURL != m.PeerURL {
						errs = append(errs, fmt.Errorf("store: peer URL %q differs from member %q's initial cluster URL %q", c.PeerURL, name, m.PeerURL))
					}
				}
			}
			if !found {
				errs = append(errs, fmt.Errorf("store: member %q is not in the initial cluster", name))
			}
		}
	} else {
		if c.DataDir != "" || c.ClientURL != "" || c.PeerURL != "" || len(c.InitialCluster) > 0 {
			errs = append(errs, errors.New("store: endpoints (external etcd) exclude data dir, client/peer URLs and initial cluster"))
		}
		for _, ep := range c.Endpoints {
			if ep == "" {
				errs = append(errs, errors.New("store: empty endpoint"))
			}
		}
	}
	if c.TLS != nil {
		errs = append(errs, c.TLS.validate()...)
	}
	if c.Prefix != "" && (!strings.HasPrefix(c.Prefix, "/") || strings.HasSuffix(c.Prefix, "/")) {
		errs = append(errs, fmt.Errorf("store: prefix %q must start with / and not end with /", c.Prefix))
	}
	for _, d := range []struct {
		what string
		v    time.Duration
	}{
		{"heartbeat interval", c.HeartbeatInterval}, {"election timeout", c.ElectionTimeout},
		{"session TTL", c.SessionTTL}, {"request timeout", c.RequestTimeout},
		{"auto compaction retention", c.AutoCompactionRetention},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("store: %s must not be negative", d.what))
		}
	}
	if c.HeartbeatInterval > 0 && c.HeartbeatInterval < time.Millisecond {
		errs = append(errs, errors.New("store: heartbeat interval must be at least 1ms"))
	}
	d := c.withDefaults()
	if d.ElectionTimeout < 5*d.HeartbeatInterval {
		errs = append(errs, fmt.Errorf("store: election timeout %v must be at least 5 heartbeat intervals (%v)", d.ElectionTimeout, d.HeartbeatInterval))
	}
	if c.MaxTxnOps < 0 || c.MaxRequestBytes < 0 || c.QuotaBackendBytes < 0 {
		errs = append(errs, errors.New("store: max txn ops, max request bytes and backend quota must not be negative"))
	}
	return errors.Join(errs...)
}

// withDefaults returns c with zero fields set to their defaults. It does not choose free
// ports: that is I/O, done by Open.
func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.ClusterToken == "" {
		c.ClusterToken = DefaultClusterToken
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.ElectionTimeout == 0 {
		c.ElectionTimeout = DefaultElectionTimeout
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = DefaultSessionTTL
		if c.Embedded() && len(c.InitialCluster) <= 1 {
			c.SessionTTL = DefaultSingleMemberSessionTTL
		}
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.MaxTxnOps == 0 {
		c.MaxTxnOps = DefaultMaxTxnOps
	}
	if c.MaxRequestBytes == 0 {
		c.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if c.SnapshotCount == 0 {
		c.SnapshotCount = DefaultSnapshotCount
	}
	if c.AutoCompactionRetention == 0 {
		c.AutoCompactionRetention = DefaultAutoCompactionRetention
	}
	if c.QuotaBackendBytes == 0 {
		c.QuotaBackendBytes = DefaultQuotaBackendBytes
	}
	if c.PeerURL == "" {
		for _, m := range c.InitialCluster {
			if m.Name == c.Name {
				c.PeerURL = m.PeerURL
			}
		}
	}
	return c
}

// sessionTTLSeconds is the election lease TTL in whole seconds, rounded up.
func (c Config) sessionTTLSeconds() int {
	s := int((c.SessionTTL + time.Second - 1) / time.Second)
	return max(s, 1)
}

// checkURL accepts http://host:port, or https://host:port when useTLS.
func checkURL(s string, useTLS bool) error {
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	want := "http"
	if useTLS {
		want = "https"
	}
	if u.Scheme != want {
		return fmt.Errorf("URL %q: scheme must be %s (store TLS is %s)", s, want, map[bool]string{true: "on", false: "off"}[useTLS])
	}
	if u.Host == "" {
		return fmt.Errorf("URL %q: missing host:port", s)
	}
	if u.Path != "" && u.Path != "/" {
		return fmt.Errorf("URL %q: must not have a path", s)
	}
	return nil
}
