package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/basalt-dcos/basalt/internal/config"
)

// role is what the server commands need of a master or an agent.
type role interface {
	Run(ctx context.Context) error
	Ready() <-chan struct{}
	Addr() string
}

// serverCmd builds a command that binds the log config and the given
// component configs, and runs start with the loaded values and a logger.
func serverCmd(env Env, cmd *cobra.Command, targets []any, start func(ctx context.Context, logger *slog.Logger) error) *cobra.Command {
	logCfg := DefaultLogConfig()
	loader, bindErr := config.Bind(cmd.Flags(), append([]any{&logCfg}, targets...)...)
	cmd.Args = cobra.NoArgs
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if bindErr != nil {
			return bindErr
		}
		if err := loader.Load(env.lookupEnv); err != nil {
			return usageError{err}
		}
		logger, err := newLogger(logCfg, env.Stderr)
		if err != nil {
			return usageError{err}
		}
		return start(cmd.Context(), logger)
	}
	return cmd
}

// runRoles starts each role in turn under one errgroup, waiting for each to
// be ready before building the next (so that an agent can be pointed at the
// master's actual address), then calls ready (which may wait for more, such
// as the agent registering) and blocks until ctx is done or a role fails. A
// role stopping because ctx ended is a clean shutdown.
func runRoles(parent context.Context, builders []func(prev []role) (role, error), ready func(ctx context.Context, roles []role) error) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	g, gctx := errgroup.WithContext(ctx)
	var roles []role
	buildErr := func() error {
		for _, build := range builders {
			r, err := build(roles)
			if err != nil {
				return err
			}
			roles = append(roles, r)
			g.Go(func() error {
				err := r.Run(gctx)
				if err == nil && gctx.Err() == nil {
					return fmt.Errorf("%T stopped on its own", r)
				}
				return err
			})
			select {
			case <-r.Ready():
			case <-gctx.Done():
				return nil // a role failed, or we are told to stop; g.Wait says which
			}
		}
		if err := ready(gctx, roles); err != nil && gctx.Err() == nil {
			return err
		}
		return nil
	}()
	if buildErr != nil {
		cancel()
	}
	<-gctx.Done()
	err := g.Wait()
	switch {
	case buildErr != nil:
		return buildErr
	case parent.Err() != nil && (err == nil || errors.Is(err, context.Canceled)):
		return nil
	}
	return err
}

// baseURL turns a bound listen address into a URL a local client can use:
// an unspecified host (":5050", "[::]:5050") becomes 127.0.0.1.
func baseURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// preferPort returns addr if it can be bound now, else the same host with
// port 0 (any free port). It is how `basalt up` keeps DC/OS ports when it can.
func preferPort(addr string) string {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		host, _, splitErr := net.SplitHostPort(addr)
		if splitErr != nil {
			return addr
		}
		return net.JoinHostPort(host, "0")
	}
	_ = l.Close()
	return addr
}

// preferDNSPort is preferPort for a DNS address, which needs the port free
// for both UDP and TCP.
func preferDNSPort(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return net.JoinHostPort(host, "0")
	}
	_ = pc.Close()
	return preferPort(addr)
}

// UpConfig is the configuration of `basalt up`.
type UpConfig struct {
	DataDir              string `flag:"data-dir" help:"directory for the master's store and the agent's sandboxes (default ~/.basalt)"`
	MasterListen         string `flag:"master-listen" help:"address of the master's HTTP API (default :5050, else a free port)"`
	AgentListen          string `flag:"agent-listen" help:"address of the agent's HTTP API (default :5051, else a free port)"`
	AdminRouterListen    string `flag:"adminrouter-listen" help:"address of the Admin Router, the one port in front of every component (default :80, else a free port)"`
	AdminRouterTLSListen string `flag:"adminrouter-tls-listen" help:"HTTPS address of the Admin Router, with a certificate from the cluster CA (default :443, else a free port)"`
	AdminRouterHTTP      string `flag:"adminrouter-http" help:"what the Admin Router's plain port does: serve (every route) or redirect (307 to HTTPS) (default serve)"`
	Resources            string `flag:"resources" help:"resources the agent offers (default: detected)"`
	AgentDNSListen       string `flag:"agent-dns-listen" help:"address of the agent's DNS server for its tasks, whose resolv.conf names it (mesos runtime; port 53 only) (default 127.0.1.53:53 when it can be bound, else off; off: none)"`
	Security             string `flag:"security" help:"security mode of the Admin Router and the component ports: strict, permissive or disabled (default strict)"`
	Superuser            string `flag:"superuser" help:"uid of the first user (default bootstrapuser)"`
	SuperuserPassword    string `flag:"superuser-password-file" help:"file holding the first user's password (default: a one-time password is generated and shown once)"`
}

// defaultAgentDNS is where `basalt up` runs the agent's DNS server for its
// tasks: a loopback address (all of 127.0.0.0/8 is local, so nothing is
// added to any interface) that a host's own resolvers leave alone
// (systemd-resolved has 127.0.0.53 and 127.0.0.54), on port 53, the only
// port a resolv.conf can name. DC/OS used 198.51.100.1, which must be added
// to an interface.
const defaultAgentDNS = "127.0.1.53:53"

// agentDNSListen is the agent's --dns-listen under `basalt up`: flag as
// given ("off" → none), else defaultAgentDNS when UDP and TCP can be bound
// there now (root, nothing else on it), else none; why not is returned for
// the ready lines.
func agentDNSListen(flag string) (listen, why string) {
	switch flag {
	case "off":
		return "", "off (--agent-dns-listen off)"
	case "":
	default:
		return flag, ""
	}
	pc, err := net.ListenPacket("udp", defaultAgentDNS)
	if err != nil {
		return "", fmt.Sprintf("off (%v); tasks use the host's resolv.conf", err)
	}
	defer pc.Close()
	ln, err := net.Listen("tcp", defaultAgentDNS)
	if err != nil {
		return "", fmt.Sprintf("off (%v); tasks use the host's resolv.conf", err)
	}
	ln.Close()
	return defaultAgentDNS, ""
}

func defaultDataDir() (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no --data-dir given and no home directory: %w", err)
	}
	return filepath.Join(home, ".basalt"), nil
}

func printReady(env Env, started time.Time, urls [][2]string) {
	m := map[string]string{}
	for _, u := range urls {
		fmt.Fprintf(env.Stdout, "%-8s %s\n", u[0], u[1])
		m[u[0]] = u[1]
	}
	fmt.Fprintf(env.Stdout, "ready in %d ms\n", time.Since(started).Milliseconds())
	if env.OnReady != nil {
		env.OnReady(m)
	}
}
