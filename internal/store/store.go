package store

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/etcd/client/pkg/v3/transport"
	"go.etcd.io/etcd/client/pkg/v3/types"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Errors returned by the Store. Match them with errors.Is.
var (
	// ErrNotFound: the key does not exist.
	ErrNotFound = errors.New("store: key not found")
	// ErrConflict: a conditional operation (PutIfAbsent, PutIfRevision) found the key in
	// another state; nothing in that Apply was written.
	ErrConflict = errors.New("store: conditional write conflict")
	// ErrClosed: the Store was closed.
	ErrClosed = errors.New("store: closed")
	// ErrNoLeader: an election has no leader.
	ErrNoLeader = errors.New("store: election has no leader")
)

// Store is a handle on Basalt's etcd: an embedded member plus a client of it, or a client of
// an external cluster.
//
// Store has Open/Close instead of New/Run: opening an etcd member is a blocking, fallible
// step (bootstrap, joining peers, waiting for quorum) that every other master component
// must wait for before it can even construct itself, and the member's lifetime is the
// process's, not one context's. Close is bounded: it never waits for lost peers.
type Store struct {
	cfg       Config
	log       *slog.Logger
	etcd      *embed.Etcd // nil for an external cluster
	client    *clientv3.Client
	endpoints []string
	root      string // cfg.Prefix + "/": every absolute key starts with it

	ctx    context.Context // cancelled by Close/Abort
	cancel context.CancelFunc
	// leadCtx is cancelled first on Close/Abort, so leaders stop before their leases go.
	leadCtx    context.Context
	leadCancel context.CancelFunc

	applyCh chan *applyReq
	wg      sync.WaitGroup // the committer goroutine

	mu     sync.Mutex
	leases map[clientv3.LeaseID]struct{} // live election leases, revoked by Close
	closed bool

	closeOnce sync.Once
	quiet     atomic.Bool // set while shutting down: etcd's shutdown noise goes to debug
}

// Open starts the embedded etcd member (or connects to the external endpoints), waits until
// the cluster has quorum and answers a linearizable read, and returns the Store. ctx bounds
// the wait (a member of a 3-member cluster waits for a second member to start). logger may
// be nil.
func Open(ctx context.Context, cfg Config, logger *slog.Logger) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	log := logger.With("component", "store")
	s := &Store{
		cfg:     cfg,
		log:     log,
		root:    cfg.Prefix + "/",
		applyCh: make(chan *applyReq, 1024),
		leases:  map[clientv3.LeaseID]struct{}{},
	}
	zlog := newZapLogger(log, &s.quiet)

	if cfg.Embedded() {
		var err error
		if cfg.ClientURL == "" {
			if cfg.ClientURL, err = freeLoopbackURL(cfg.TLS != nil); err != nil {
				return nil, fmt.Errorf("open store: %w", err)
			}
		}
		if cfg.PeerURL == "" {
			if cfg.PeerURL, err = freeLoopbackURL(cfg.TLS != nil); err != nil {
				return nil, fmt.Errorf("open store: %w", err)
			}
		}
		s.cfg = cfg
		if s.etcd, err = startMember(ctx, cfg, zlog, log); err != nil {
			return nil, err
		}
		s.endpoints = []string{cfg.ClientURL}
	} else {
		s.endpoints = append([]string(nil), cfg.Endpoints...)
	}

	var clientTLS *tls.Config
	if cfg.TLS != nil {
		info := transport.TLSInfo{CertFile: cfg.TLS.CertFile, KeyFile: cfg.TLS.KeyFile, TrustedCAFile: cfg.TLS.CAFile, Logger: zlog}
		c, err := info.ClientConfig()
		if err != nil {
			s.stopMember(false)
			return nil, fmt.Errorf("open store: client TLS: %w", err)
		}
		clientTLS = c
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            s.endpoints,
		TLS:                  clientTLS,
		DialTimeout:          cfg.RequestTimeout,
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 3 * time.Second,
		MaxCallSendMsgSize:   cfg.MaxRequestBytes + 64<<10,
		Logger:               zlog,
	})
	if err != nil {
		s.stopMember(false)
		return nil, fmt.Errorf("open store: connect %v: %w", s.endpoints, err)
	}
	s.client = cli
	if err := s.waitReady(ctx); err != nil {
		cli.Close()
		s.stopMember(false)
		return nil, err
	}

	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.leadCtx, s.leadCancel = context.WithCancel(s.ctx)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.commitLoop()
	}()
	log.Info("store open", "name", cfg.Name, "embedded", cfg.Embedded(), "endpoints", s.endpoints, "member_id", s.MemberID())
	return s, nil
}

func startMember(ctx context.Context, cfg Config, zlog *zap.Logger, log *slog.Logger) (*embed.Etcd, error) {
	ec := embed.NewConfig()
	ec.Name = cfg.Name
	ec.Dir = cfg.DataDir
	cu, _ := url.Parse(cfg.ClientURL)
	pu, _ := url.Parse(cfg.PeerURL)
	ec.ListenClientUrls, ec.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	ec.ListenPeerUrls, ec.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	members := cfg.InitialCluster
	if len(members) == 0 {
		members = []Member{{Name: cfg.Name, PeerURL: cfg.PeerURL}}
	}
	parts := make([]string, 0, len(members))
	for _, m := range members {
		parts = append(parts, m.Name+"="+m.PeerURL)
	}
	ec.InitialCluster = strings.Join(parts, ",")
	ec.InitialClusterToken = cfg.ClusterToken
	ec.ClusterState = embed.ClusterStateFlagNew
	existing := hasWAL(cfg.DataDir)
	if existing {
		// A member with data rejoins the cluster recorded in it; etcd ignores the initial
		// cluster then, but "existing" states the intent.
		ec.ClusterState = embed.ClusterStateFlagExisting
	}
	ec.TickMs = uint(cfg.HeartbeatInterval / time.Millisecond)
	ec.ElectionMs = uint(cfg.ElectionTimeout / time.Millisecond)
	ec.MaxTxnOps = uint(cfg.MaxTxnOps)
	ec.MaxRequestBytes = uint(cfg.MaxRequestBytes)
	ec.SnapshotCount = cfg.SnapshotCount
	ec.AutoCompactionMode = embed.CompactorModePeriodic
	ec.AutoCompactionRetention = cfg.AutoCompactionRetention.String()
	ec.QuotaBackendBytes = cfg.QuotaBackendBytes
	if cfg.TLS != nil {
		// Mutual TLS on both ports: a client or a peer without a certificate from the
		// cluster CA is refused in the handshake. etcd also checks that a peer's
		// certificate names the address it connects from (its IP SANs).
		info := transport.TLSInfo{
			CertFile: cfg.TLS.CertFile, KeyFile: cfg.TLS.KeyFile, TrustedCAFile: cfg.TLS.CAFile,
			ClientCertAuth: true, MinVersion: tls.VersionTLS12,
		}
		ec.ClientTLSInfo, ec.PeerTLSInfo = info, info
	}
	ec.EnableGRPCGateway = false
	ec.Logger = "zap"
	ec.LogLevel = "warn"
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zlog)

	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("open store: start etcd member %s: %w", cfg.Name, err)
	}
	select {
	case <-e.Server.ReadyNotify():
		log.Info("etcd member ready", "name", cfg.Name, "member_id", e.Server.MemberID().String(), "rejoined", existing)
		return e, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("open store: etcd member %s: %w", cfg.Name, err)
	case <-ctx.Done():
		e.Server.HardStop()
		e.Close()
		return nil, fmt.Errorf("open store: wait for etcd member %s to join a quorum: %w", cfg.Name, ctx.Err())
	}
}

// waitReady polls a linearizable read until it succeeds (the cluster has a leader and
// quorum) or ctx ends.
func (s *Store) waitReady(ctx context.Context) error {
	backoff := 20 * time.Millisecond
	for {
		rctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
		_, err := s.client.Get(clientv3.WithRequireLeader(rctx), s.root+"cluster/id")
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("open store: wait for quorum at %v: %w (last error: %v)", s.endpoints, ctx.Err(), err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// Close stops the Store: pending Apply calls fail with ErrClosed, watches end, elections
// this Store holds are resigned (their leases revoked, so a standby takes over at once),
// and the embedded member stops. Close is bounded by RequestTimeout even when the rest of
// the cluster is gone.
func (s *Store) Close() error {
	s.shutdown(false)
	return nil
}

// Abort stops the Store as a crash would: no resignation, no lease revocation, no raft
// leadership transfer. Leadership held through this Store lapses after SessionTTL. It is
// for fault-injection tests (killing a master); production code calls Close.
func (s *Store) Abort() {
	s.shutdown(true)
}

func (s *Store) shutdown(abort bool) {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		leases := make([]clientv3.LeaseID, 0, len(s.leases))
		for id := range s.leases {
			leases = append(leases, id)
		}
		s.mu.Unlock()
		s.quiet.Store(true)
		s.leadCancel()
		if abort && s.etcd != nil {
			// Stop the member first so that nothing below reaches the cluster.
			s.etcd.Server.HardStop()
		}
		if !abort {
			var wg sync.WaitGroup
			for _, id := range leases {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RequestTimeout)
					defer cancel()
					_, err := s.client.Revoke(clientv3.WithRequireLeader(ctx), id)
					if err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
						s.log.Warn("resign on close", "error", err)
					}
				}()
			}
			wg.Wait()
		}
		s.cancel()
		s.wg.Wait()
		s.client.Close()
		s.stopMember(abort)
		s.log.Info("store closed", "name", s.cfg.Name, "abort", abort)
	})
}

func (s *Store) stopMember(abort bool) {
	if s.etcd == nil {
		return
	}
	if abort {
		s.etcd.Server.HardStop()
	}
	s.etcd.Close()
}

// isClosed reports whether Close or Abort was called.
func (s *Store) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Client is the escape hatch to the raw etcd client. Keys written through it are not
// prefixed for you; use Prefix.
func (s *Store) Client() *clientv3.Client { return s.client }

// Prefix is the absolute key prefix (with no trailing slash) all relative keys live under.
func (s *Store) Prefix() string { return s.cfg.Prefix }

// Endpoints are the etcd client URLs this Store talks to: the embedded member's client URL,
// or the configured external endpoints.
func (s *Store) Endpoints() []string { return append([]string(nil), s.endpoints...) }

// Name is the embedded member's name ("" for an external cluster).
func (s *Store) Name() string {
	if s.etcd == nil {
		return ""
	}
	return s.cfg.Name
}

// MemberID is the embedded member's etcd ID in hex ("" for an external cluster).
func (s *Store) MemberID() string {
	if s.etcd == nil {
		return ""
	}
	return s.etcd.Server.MemberID().String()
}

// SessionTTL is the lease TTL used by elections, in whole seconds.
func (s *Store) SessionTTL() time.Duration {
	return time.Duration(s.cfg.sessionTTLSeconds()) * time.Second
}

// Status is a view of the etcd cluster, for /exhibitor-style status pages.
type Status struct {
	Name     string       `json:"name,omitempty"`      // this member ("" when external)
	MemberID string       `json:"member_id,omitempty"` // this member ("" when external)
	LeaderID string       `json:"leader_id"`           // the raft leader
	Leader   string       `json:"leader"`              // the raft leader's name
	RaftTerm uint64       `json:"raft_term"`
	Revision int64        `json:"revision"`
	DBSize   int64        `json:"db_size"`
	Version  string       `json:"version"`
	Members  []MemberInfo `json:"members"`
}

// MemberInfo is one etcd cluster member.
type MemberInfo struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	PeerURLs   []string `json:"peer_urls"`
	ClientURLs []string `json:"client_urls"`
	IsLeader   bool     `json:"is_leader"`
	IsLearner  bool     `json:"is_learner,omitempty"`
}

// Status reports the members and the raft leader, as seen from the first endpoint that
// answers.
func (s *Store) Status(ctx context.Context) (Status, error) {
	var (
		st      *clientv3.StatusResponse
		lastErr error
	)
	for _, ep := range s.endpoints {
		r, err := s.client.Status(ctx, ep)
		if err == nil {
			st = r
			break
		}
		lastErr = err
	}
	if st == nil {
		return Status{}, fmt.Errorf("store status: %w", lastErr)
	}
	ml, err := s.client.MemberList(ctx)
	if err != nil {
		return Status{}, fmt.Errorf("store status: list members: %w", err)
	}
	out := Status{
		Name:     s.Name(),
		MemberID: s.MemberID(),
		RaftTerm: st.RaftTerm,
		Revision: st.Header.Revision,
		DBSize:   st.DbSize,
		Version:  st.Version,
	}
	if st.Leader != 0 {
		out.LeaderID = types.ID(st.Leader).String()
	}
	for _, m := range ml.Members {
		mi := MemberInfo{
			ID:         types.ID(m.ID).String(),
			Name:       m.Name,
			PeerURLs:   m.PeerURLs,
			ClientURLs: m.ClientURLs,
			IsLeader:   m.ID == st.Leader,
			IsLearner:  m.IsLearner,
		}
		if mi.IsLeader {
			out.Leader = m.Name
		}
		out.Members = append(out.Members, mi)
	}
	return out, nil
}

// abs turns a key relative to the prefix into an absolute etcd key.
func (s *Store) abs(key string) string { return s.root + key }

// rel turns an absolute etcd key back into a relative one.
func (s *Store) rel(key []byte) string { return strings.TrimPrefix(string(key), s.root) }

func hasWAL(dataDir string) bool {
	names, err := os.ReadDir(filepath.Join(dataDir, "member", "wal"))
	if err != nil {
		return false
	}
	for _, n := range names {
		if strings.HasSuffix(n.Name(), ".wal") {
			return true
		}
	}
	return false
}

// freeLoopbackURL picks a free TCP port on 127.0.0.1. The port is released before etcd
// binds it, so another process could take it in between; that window is short, and the
// default is only used for single-member setups and tests.
func freeLoopbackURL(useTLS bool) (string, error) {
	l, err := ListenLoopback()
	if err != nil {
		return "", fmt.Errorf("pick a free loopback port: %w", err)
	}
	addr := l.Addr().String()
	l.Close()
	if useTLS {
		return "https://" + addr, nil
	}
	return "http://" + addr, nil
}

// ListenLoopback listens on a free port of a random address in 127.0.0.0/8.
// Picking a port by listening on port 0 and closing is racy: the kernel may
// hand the same port to the next such pick before the first user binds it.
// Spreading picks over 16 million loopback addresses makes two picks
// collide only if both the address and the port match. Linux routes all of
// 127.0.0.0/8 to the loopback device, so any of them can be bound.
func ListenLoopback() (net.Listener, error) {
	ip := fmt.Sprintf("127.%d.%d.%d", 1+rand.IntN(254), 1+rand.IntN(254), 1+rand.IntN(254))
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		// Not Linux, or a host that only has 127.0.0.1: fall back.
		return net.Listen("tcp", "127.0.0.1:0")
	}
	return l, nil
}
