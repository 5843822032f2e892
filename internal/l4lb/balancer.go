package l4lb

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/basalt-dcos/basalt/internal/dns/records"
)

// Status is what the balancer has applied, for diagnostics and the API.
type Status struct {
	// Mode is the data path: "userspace" (IPVS is a later backend).
	Mode string `json:"mode"`
	// IPVSAvailable says whether the kernel offers IPVS.
	IPVSAvailable bool `json:"ipvs_available"`
	// VIPs is the number of VIP keys (address, port, protocol) being served.
	VIPs int `json:"vips"`
	// Addresses are the addresses this balancer added to the interface.
	Addresses []netip.Addr `json:"addresses"`
	// Backends lists every served VIP with its backend count.
	Backends []VIPStatus `json:"backends"`
	// Errors are the problems of the last apply (VIPs not served and why).
	Errors []string `json:"errors,omitempty"`
	// Applies counts completed applies; tests poll it.
	Applies uint64 `json:"applies"`
}

// VIPStatus is one served VIP.
type VIPStatus struct {
	IP       netip.Addr `json:"ip"`
	Port     uint16     `json:"port"`
	Protocol string     `json:"protocol"`
	Backends int        `json:"backends"`
}

// Balancer keeps the data path in line with the latest desired VIPs.
type Balancer struct {
	cfg  Config
	log  *slog.Logger
	ipvs func() bool
	// newBackend builds the data path when Run starts; tests substitute it.
	newBackend func(wake func()) backend

	running atomic.Bool
	kick    chan struct{} // capacity 1: "desired changed or a drain ended"

	mu      sync.Mutex
	desired []records.VIP
	status  Status
}

// New checks cfg and builds a Balancer. It does no I/O.
func New(cfg Config, logger *slog.Logger) (*Balancer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("component", "l4lb")
	b := &Balancer{cfg: cfg, log: logger, ipvs: ipvsAvailable, kick: make(chan struct{}, 1)}
	b.newBackend = func(wake func()) backend {
		return newUserspace(cfg, logger, rtnlAddrs{ifname: cfg.Interface}, defaultListen, wake)
	}
	b.status = Status{Mode: "userspace"}
	return b, nil
}

// Sync records the desired VIPs and returns at once; the Run loop applies the
// latest set it has seen. Safe from any goroutine. The slice and its backends
// must not be modified afterwards (records.Table's VIPs never are).
func (b *Balancer) Sync(vips []records.VIP) {
	b.mu.Lock()
	b.desired = vips
	b.mu.Unlock()
	b.wake()
}

func (b *Balancer) wake() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// Status returns a snapshot of what is applied.
func (b *Balancer) Status() Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := b.status
	st.Addresses = append([]netip.Addr(nil), st.Addresses...)
	st.Backends = append([]VIPStatus(nil), st.Backends...)
	st.Errors = append([]string(nil), st.Errors...)
	return st
}

// Run applies desired VIPs until ctx is done, then closes every listener
// and connection and removes every address it added. It returns nil after a
// clean shutdown and an error when the cleanup failed.
func (b *Balancer) Run(ctx context.Context) error {
	if !b.running.CompareAndSwap(false, true) {
		return errors.New("l4lb: Run called twice")
	}
	ipvs := b.ipvs()
	be := b.newBackend(b.wake)
	b.log.Info("l4lb running", "mode", "userspace", "ipvs_available", ipvs, "interface", b.cfg.Interface)
	var applies uint64
	for {
		select {
		case <-ctx.Done():
			err := be.close()
			b.mu.Lock()
			b.status.VIPs, b.status.Addresses, b.status.Backends = 0, nil, nil
			b.mu.Unlock()
			if err != nil {
				b.log.Warn("l4lb cleanup", "error", err)
			}
			return err
		case <-b.kick:
		}
		b.mu.Lock()
		desired := b.desired
		b.mu.Unlock()
		err := be.sync(desired)
		applies++
		bs := be.status()
		st := Status{
			Mode: "userspace", IPVSAvailable: ipvs, VIPs: len(bs.vips),
			Addresses: bs.addresses, Backends: bs.vips, Applies: applies,
		}
		if err != nil {
			st.Errors = errorLines(err)
			b.log.Debug("l4lb apply", "error", err)
		}
		b.mu.Lock()
		b.status = st
		b.mu.Unlock()
	}
}

// errorLines splits a joined error into one line per problem.
func errorLines(err error) []string {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, errorLines(e)...)
		}
		return out
	}
	return []string{err.Error()}
}
