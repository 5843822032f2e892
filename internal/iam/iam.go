package iam

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/basalt-dcos/basalt/internal/ratelimit"
	"github.com/basalt-dcos/basalt/internal/store"
)

// Mode is how Admin Router applies IAM to the routes that need a token.
type Mode string

// Security modes, as DC/OS EE names them.
const (
	// ModeDisabled: no token is required; the router acts as a superuser.
	ModeDisabled Mode = "disabled"
	// ModePermissive: a valid token is required; authorization is not enforced.
	ModePermissive Mode = "permissive"
	// ModeStrict: a valid token is required and every route is authorized.
	ModeStrict Mode = "strict"
)

// ParseMode checks a mode given on the command line.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeDisabled, ModePermissive, ModeStrict:
		return m, nil
	}
	return "", fmt.Errorf("security mode %q: want disabled, permissive or strict", s)
}

// Principal is who made a request.
type Principal struct {
	UID       string
	IsService bool
	Superuser bool // has dcos:superuser full, directly or through a group
}

// Errors of Authenticate and VerifyToken; they are wrapped with detail, match them
// with errors.Is.
var (
	ErrNoToken      = errors.New("no authentication token")
	ErrInvalidToken = errors.New("invalid authentication token")
)

// SuperuserRID is the resource whose "full" action grants everything.
const SuperuserRID = "dcos:superuser"

// ClusterIssuer is the "iss" a Basalt master's IAM puts in its tokens
// (agents verify it with RemoteKeys).
const ClusterIssuer = "basalt"

// Defaults of Config.
const (
	DefaultTokenTTL          = 5 * 24 * time.Hour
	DefaultIssuer            = "basalt-iam"
	DefaultLoginBurst        = 10
	DefaultLoginRefill       = 6 * time.Second
	DefaultClockLeeway       = 30 * time.Second
	serviceLoginMaxLifetime  = 10 * time.Minute
	defaultForcedReloadEvery = 200 * time.Millisecond
	verifiedCacheSize        = 8192
)

// Config configures a Service. Store is required; zero values of the other
// fields take the defaults above.
type Config struct {
	Store    *store.Store
	TokenTTL time.Duration // lifetime of issued tokens (default 5 days, as DC/OS)
	Issuer   string        // "iss" of issued tokens, required in verified ones
	Logger   *slog.Logger
	Now      func() time.Time

	// LoginBurst failed logins are allowed per uid and per client IP before
	// logins answer 429; one more is allowed every LoginRefill.
	LoginBurst  int
	LoginRefill time.Duration
	// ClockLeeway tolerates clock skew between masters and clients when checking
	// exp, nbf and iat.
	ClockLeeway time.Duration
	// Argon2 is the cost of new password hashes (zero: DefaultArgon2).
	Argon2 Argon2Params
	// Sealer encrypts the signing keys in the store (the cluster's KEK). Nil:
	// they are stored in the clear. With a Sealer, New re-writes plaintext
	// keys sealed.
	Sealer KeySealer
}

// KeySealer encrypts private keys at rest; aad binds a sealed value to the
// store key it lives under. internal/pki's KEK implements it.
type KeySealer interface {
	Seal(plaintext []byte, aad string) (string, error)
	Open(sealed, aad string) ([]byte, error)
}

// Validate reports every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	if c.Store == nil {
		errs = append(errs, errors.New("iam config: Store is required"))
	}
	if c.TokenTTL < 0 || c.LoginRefill < 0 || c.ClockLeeway < 0 || c.LoginBurst < 0 {
		errs = append(errs, errors.New("iam config: durations and LoginBurst must not be negative"))
	}
	if c.Argon2 != (Argon2Params{}) {
		if err := c.Argon2.check(); err != nil {
			errs = append(errs, fmt.Errorf("iam config: %w", err))
		}
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.TokenTTL == 0 {
		c.TokenTTL = DefaultTokenTTL
	}
	if c.Issuer == "" {
		c.Issuer = DefaultIssuer
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.LoginBurst == 0 {
		c.LoginBurst = DefaultLoginBurst
	}
	if c.LoginRefill == 0 {
		c.LoginRefill = DefaultLoginRefill
	}
	if c.ClockLeeway == 0 {
		c.ClockLeeway = DefaultClockLeeway
	}
	if c.Argon2 == (Argon2Params{}) {
		c.Argon2 = DefaultArgon2
	}
	return c
}

// Service is the IAM of one master. Every master runs one on the shared store.
type Service struct {
	cfg Config
	log *slog.Logger
	db  *db

	snap atomic.Pointer[snapshot]

	// forced reloads (a token with an unknown kid or uid may come from a change
	// this master's watch has not delivered yet) run one at a time, at most once
	// per forcedReloadEvery.
	reloadMu     sync.Mutex
	lastForced   time.Time
	forcedReload time.Duration

	limiter  *ratelimit.Failures // failed logins, per uid and client IP
	verified *verifiedCache
	hashSem  chan struct{} // bounds concurrent argon2 computations (memory)
	dummy    string        // a hash compared against for unknown uids

	cancel context.CancelFunc
	done   chan struct{}
}

// New loads the IAM state from the store, creates the first signing key if
// there is none (create-if-absent, so masters starting together agree on it),
// and starts a watch that keeps this master's view current. Close stops it.
//
// New does I/O and starts a goroutine, unlike most constructors here: a Service
// that cannot verify tokens is of no use, so it is ready when New returns.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	s := &Service{
		cfg:          cfg,
		log:          cfg.Logger.With("component", "iam"),
		db:           newDB(cfg.Store, cfg.Sealer),
		forcedReload: defaultForcedReloadEvery,
		limiter:      ratelimit.NewFailures(cfg.LoginBurst, cfg.LoginRefill),
		verified:     newVerifiedCache(verifiedCacheSize),
		hashSem:      make(chan struct{}, 4),
		done:         make(chan struct{}),
	}
	dummy, err := hashPassword("basalt-iam-timing-equaliser", cfg.Argon2)
	if err != nil {
		return nil, fmt.Errorf("iam: %w", err)
	}
	s.dummy = dummy
	rev, err := s.reload(ctx)
	if err != nil {
		return nil, fmt.Errorf("iam: load state: %w", err)
	}
	if len(s.snap.Load().keyOrder) == 0 {
		if err := s.addKey(ctx, 1); err != nil && !errors.Is(err, store.ErrConflict) {
			return nil, fmt.Errorf("iam: create signing key: %w", err)
		}
		if rev, err = s.reload(ctx); err != nil {
			return nil, fmt.Errorf("iam: load state: %w", err)
		}
		if len(s.snap.Load().keyOrder) == 0 {
			return nil, errors.New("iam: no signing key after creating one")
		}
	}
	if cfg.Sealer != nil {
		migrated, err := s.sealPlainKeys(ctx)
		if err != nil {
			return nil, fmt.Errorf("iam: seal signing keys: %w", err)
		}
		if migrated > 0 {
			s.log.Info("sealed plaintext signing keys in the store", "keys", migrated)
			if rev, err = s.reload(ctx); err != nil {
				return nil, fmt.Errorf("iam: load state: %w", err)
			}
		}
	}
	wctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.watch(wctx, rev)
	return s, nil
}

// Close stops the watch. The Service must not be used afterwards.
func (s *Service) Close() {
	s.cancel()
	<-s.done
}

// reload reads the whole IAM state and installs it unless a newer snapshot is
// already installed. It returns the revision it read.
func (s *Service) reload(ctx context.Context) (int64, error) {
	next, err := s.db.load(ctx, s.snap.Load())
	if err != nil {
		return 0, err
	}
	for {
		cur := s.snap.Load()
		if cur != nil && cur.rev >= next.rev {
			return next.rev, nil
		}
		if s.snap.CompareAndSwap(cur, next) {
			if cur != nil && len(cur.keyOrder) > 0 && len(next.keyOrder) > 0 &&
				cur.active().kid != next.active().kid {
				s.log.Info("signing key changed", "kid", next.active().kid, "keys", len(next.keyOrder))
			}
			return next.rev, nil
		}
	}
}

// forceReload re-reads the state for a request that found something unknown,
// at most once per forcedReload interval; concurrent callers wait for one read.
func (s *Service) forceReload() {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	now := time.Now()
	if now.Sub(s.lastForced) < s.forcedReload {
		return
	}
	s.lastForced = now
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.reload(ctx); err != nil {
		s.log.Warn("reload IAM state", "error", err)
	}
}

// watch follows changes under iam/ and reloads the state after each burst of
// them. A full reload (instead of applying each event) keeps one code path for
// reading the state; IAM changes are rare and the state is small.
func (s *Service) watch(ctx context.Context, rev int64) {
	defer close(s.done)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		// Each watch has its own context: leaving the loop early must end the
		// store's watch goroutine too.
		wctx, wcancel := context.WithCancel(ctx)
		ch := s.cfg.Store.Watch(wctx, iamPrefix, rev+1)
	events:
		for ev := range ch {
			if ev.Type == store.EventResync {
				break
			}
			// Take the rest of the burst: one reload covers it.
			for {
				select {
				case more, ok := <-ch:
					if !ok || more.Type == store.EventResync {
						break events
					}
					continue
				default:
				}
				break
			}
			r, err := s.reload(ctx)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("reload IAM state after a change", "error", err)
				}
				break
			}
			rev = max(rev, r)
			backoff = 100 * time.Millisecond
		}
		wcancel()
		// The watch ended (compaction, a failed reload, the store closing): read
		// everything again and follow from there.
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		if r, err := s.reload(ctx); err == nil {
			rev = max(rev, r)
		} else {
			backoff = min(2*backoff, 5*time.Second)
		}
	}
}
