package cli

// This file wires the server roles (internal/master, internal/agent) into
// the commands. It is the only file of the CLI that knows their Config
// fields, so a change in those packages is fixed here.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/basalt-dcos/basalt/internal/agent"
	"github.com/basalt-dcos/basalt/internal/iam"
	"github.com/basalt-dcos/basalt/internal/master"
	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

func newMasterCmd(env Env) *cobra.Command {
	cfg := master.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "master",
		Short: "Run a master: the store member, the leader-elected Mesos master and its HTTP API (:5050), Marathon (:8080), DNS and the Admin Router (:80)",
	}
	return serverCmd(env, cmd, []any{&cfg}, func(ctx context.Context, logger *slog.Logger) error {
		started := time.Now()
		return runRoles(ctx, []func([]role) (role, error){
			func([]role) (role, error) { return master.New(cfg, logger) },
		}, func(_ context.Context, roles []role) error {
			urls := [][2]string{{"master", baseURL(roles[0].Addr())}}
			if u := roles[0].(*master.Master).MarathonURL(); u != "" {
				urls = append(urls, [2]string{"marathon", u})
			}
			if u := roles[0].(*master.Master).AdminRouterURL(); u != "" {
				urls = append(urls, [2]string{"adminrouter", u})
			}
			if u := roles[0].(*master.Master).AdminRouterTLSURL(); u != "" {
				urls = append(urls, [2]string{"adminrouter-https", u})
			}
			printReady(env, started, urls)
			return nil
		})
	})
}

func newAgentCmd(env Env) *cobra.Command {
	cfg := agent.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run an agent: offer this host's resources and run tasks (:5051)",
	}
	return serverCmd(env, cmd, []any{&cfg}, func(ctx context.Context, logger *slog.Logger) error {
		started := time.Now()
		return runRoles(ctx, []func([]role) (role, error){
			func([]role) (role, error) { return agent.New(cfg, agent.Deps{Logger: logger}) },
		}, func(_ context.Context, roles []role) error {
			lines := [][2]string{{"agent", baseURL(roles[0].Addr())}}
			if a := roles[0].(*agent.Agent).AdminRouterAddr(); a != "" {
				lines = append(lines, [2]string{"agent-adminrouter", baseURL(a)})
			}
			printReady(env, started, lines)
			return nil
		})
	})
}

func newUpCmd(env Env) *cobra.Command {
	var up UpConfig
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run a single-node cluster in this process: one master and one agent",
		Long: `Run a whole single-node cluster in one process: a master on a single-member
embedded store (DATA_DIR/master) and an agent (DATA_DIR/agent) registered with it.
It uses the DC/OS ports (Admin Router 80, master 5050, Marathon 8080, DNS 61053
and its HTTP API 8123, agent 5051) when they are free, else any free port, and prints the
addresses it chose. The agent runs a DNS server for its tasks on 127.0.1.53:53 when it can
bind it (root): tasks of the mesos runtime resolve .mesos and thisdcos.directory names
through it (--agent-dns-listen). Security is strict by default: every port asks for a token; it prints the
first user's one-time password once and how to log in with basalt cluster setup. The master
API also speaks TLS and the agent joins with the cluster's join token (mTLS). Stop it with
Ctrl-C.`,
	}
	return serverCmd(env, cmd, []any{&up}, func(ctx context.Context, logger *slog.Logger) error {
		started := time.Now()
		dataDir := up.DataDir
		if dataDir == "" {
			d, err := defaultDataDir()
			if err != nil {
				return err
			}
			dataDir = d
		}
		mcfg := master.DefaultConfig()
		mcfg.DataDir = filepath.Join(dataDir, "master")
		mcfg.Listen = up.MasterListen
		if mcfg.Listen == "" {
			mcfg.Listen = preferPort(":5050")
		}
		mcfg.MarathonListen = preferPort(":8080")
		mcfg.DNS.Listen = preferDNSPort(":61053")
		mcfg.DNS.HTTPListen = preferPort(":8123")
		mcfg.AdminRouterListen = up.AdminRouterListen
		if mcfg.AdminRouterListen == "" {
			mcfg.AdminRouterListen = preferPort(":80")
		}
		if up.Security != "" {
			mcfg.Security = up.Security
		}
		if up.Superuser != "" {
			mcfg.Superuser = up.Superuser
		}
		mcfg.SuperuserPasswordFile = up.SuperuserPassword
		mcfg.AdminRouterTLSListen = up.AdminRouterTLSListen
		if mcfg.AdminRouterTLSListen == "" {
			mcfg.AdminRouterTLSListen = preferPort(":443")
		}
		if up.AdminRouterHTTP != "" {
			mcfg.AdminRouterHTTP = up.AdminRouterHTTP
		}
		// Node TLS: the master API also speaks TLS with the cluster CA and
		// takes agents only with a node certificate; the agent joins with
		// the join token it gets in process.
		mcfg.APITLS, mcfg.RequireAgentCerts = true, true

		acfg := agent.DefaultConfig()
		acfg.WorkDir = filepath.Join(dataDir, "agent")
		acfg.Listen = up.AgentListen
		if acfg.Listen == "" {
			acfg.Listen = preferPort(":5051")
		}
		if up.Resources != "" {
			acfg.Resources = up.Resources
		}
		acfg.AdminRouterListen = preferPort(":61001")
		acfg.Security = mcfg.Security
		// The agent's own DNS server, which mesos runtime tasks resolve
		// through (their resolv.conf names it), as on a DC/OS node. It
		// follows the master as any agent's does and keeps its own copy of
		// the records.
		var agentDNSOff string
		acfg.Discovery.DNSListen, agentDNSOff = agentDNSListen(up.AgentDNSListen)
		return runRoles(ctx, []func([]role) (role, error){
			func([]role) (role, error) { return master.New(mcfg, logger) },
			func(prev []role) (role, error) {
				acfg.Masters = []string{baseURL(prev[0].Addr())}
				acfg.JoinToken = prev[0].(*master.Master).JoinToken().Encode()
				a, err := agent.New(acfg, agent.Deps{Logger: logger})
				if err != nil {
					return nil, fmt.Errorf("agent: %w", err)
				}
				return a, nil
			},
		}, func(ctx context.Context, roles []role) error {
			masterURL := baseURL(roles[0].Addr())
			m := roles[0].(*master.Master)
			if err := waitAgentActive(ctx, masterURL, systemToken(m), roles[1].(*agent.Agent)); err != nil {
				return err
			}
			trust, err := writeTrustFiles(dataDir, m)
			if err != nil {
				return err
			}
			lines := [][2]string{{"adminrouter", m.AdminRouterURL()}}
			if u := m.AdminRouterTLSURL(); u != "" {
				lines = append(lines, [2]string{"adminrouter-https", u})
			}
			lines = append(lines, trust...)
			lines = append(lines, [][2]string{
				{"master", masterURL},
				{"marathon", m.MarathonURL()},
				{"dns", strings.TrimPrefix(baseURL(m.DNSAddr()), "http://") + " (Mesos-DNS API " + m.DNSHTTPURL() + ")"},
				{"agent", baseURL(roles[1].Addr())},
			}...)
			if a := roles[1].(*agent.Agent).DNSAddr(); a != "" {
				lines = append(lines, [2]string{"agent-dns", a})
			} else if acfg.Discovery.DNSListen != "" {
				lines = append(lines, [2]string{"agent-dns", acfg.Discovery.DNSListen})
			} else if agentDNSOff != "" {
				lines = append(lines, [2]string{"agent-dns", agentDNSOff})
			}
			if a := roles[1].(*agent.Agent).AdminRouterAddr(); a != "" {
				lines = append(lines, [2]string{"agent-adminrouter", baseURL(a)})
			}
			printReady(env, started, lines)
			if pw := m.BootstrapPassword(); pw != "" {
				// Shown once, on the terminal of the one who started the
				// cluster; the log only names the file.
				fmt.Fprintf(env.Stdout, "superuser %s, one-time password %s (also in %s)\n",
					mcfg.Superuser, pw, filepath.Join(mcfg.DataDir, master.BootstrapPasswordFile))
			}
			if u := m.AdminRouterTLSURL(); u != "" && mcfg.Security != "disabled" {
				fmt.Fprintf(env.Stdout, "security %s; log in: basalt cluster setup %s --ca-certs %s --username %s\n",
					mcfg.Security, u, filepath.Join(dataDir, "ca.crt"), mcfg.Superuser)
				fmt.Fprintf(env.Stdout, "data in %s; then try: basalt node list\n", dataDir)
			} else {
				fmt.Fprintf(env.Stdout, "security %s; log in: basalt cluster setup %s --username %s\n", mcfg.Security, m.AdminRouterURL(), mcfg.Superuser)
				fmt.Fprintf(env.Stdout, "data in %s; try: basalt node list --master %s\n", dataDir, masterURL)
			}
			return nil
		})
	})
}

// writeTrustFiles writes the cluster CA certificate (DATA_DIR/ca.crt, for
// curl --cacert and dcos-style clients) and the join token
// (DATA_DIR/join-token, 0600: it lets a node join) and returns their paths
// as ready lines.
func writeTrustFiles(dataDir string, m *master.Master) ([][2]string, error) {
	ca := m.CACertPEM()
	if ca == nil {
		return nil, nil // HTTPS is off
	}
	caPath := filepath.Join(dataDir, "ca.crt")
	if err := os.WriteFile(caPath, ca, 0o644); err != nil {
		return nil, fmt.Errorf("write the cluster CA: %w", err)
	}
	tokPath := filepath.Join(dataDir, "join-token")
	if err := os.WriteFile(tokPath, []byte(m.JoinToken().Encode()+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write the join token: %w", err)
	}
	if err := os.Chmod(tokPath, 0o600); err != nil { // an older file keeps its mode through WriteFile
		return nil, fmt.Errorf("write the join token: %w", err)
	}
	return [][2]string{{"ca-cert", caPath}, {"join-token", tokPath}}, nil
}

// systemToken is a token of the Admin Router's system account, minted by the
// master in process ("" when its IAM is off), for up's own reads.
func systemToken(m *master.Master) string {
	if svc := m.IAM(); svc != nil {
		if tok, err := svc.IssueToken(iam.SystemAdminRouter); err == nil {
			return tok
		}
	}
	return ""
}

// waitAgentActive polls the master until it lists the agent as active, so
// that "ready" means a framework would get offers now.
func waitAgentActive(ctx context.Context, masterURL, token string, a *agent.Agent) error {
	c, err := newAPIClient(ClientConfig{Master: masterURL, Token: token, Timeout: 5 * time.Second}, Env{})
	if err != nil {
		return err
	}
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for {
		if id := a.ID(); id != "" {
			if body, err := c.get(ctx, c.master, "/master/slaves", nil); err == nil {
				var resp mesosv1.SlavesResponse
				if json.Unmarshal(body, &resp) == nil {
					for _, s := range resp.Slaves {
						if s.ID == id && s.Active {
							return nil
						}
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
