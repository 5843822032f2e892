//go:build basalt_roles

// TODO(lead): internal/master and internal/agent did not compile yet when
// this was written. Once they do: drop the build tag above, delete
// roles_pending.go, and check `go test ./internal/cli` (TestUp runs a real
// single-node cluster).

package cli

// This file wires the server roles (internal/master, internal/agent) into
// the commands. It is the only file of the CLI that knows their Config
// fields, so a change in those packages is fixed here.

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/basalt-dcos/basalt/internal/agent"
	"github.com/basalt-dcos/basalt/internal/master"
)

func newMasterCmd(env Env) *cobra.Command {
	cfg := master.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "master",
		Short: "Run a master: the store member, the leader-elected Mesos master and its HTTP API (:5050)",
	}
	return serverCmd(env, cmd, []any{&cfg}, func(ctx context.Context, logger *slog.Logger) error {
		started := time.Now()
		return runRoles(ctx, []func([]role) (role, error){
			func([]role) (role, error) { return master.New(cfg, logger) },
		}, func(roles []role) {
			printReady(env, started, [][2]string{{"master", baseURL(roles[0].Addr())}})
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
		}, func(roles []role) {
			printReady(env, started, [][2]string{{"agent", baseURL(roles[0].Addr())}})
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
It uses the DC/OS ports (master 5050, agent 5051) when they are free, else any
free port, and prints the URLs it chose. Stop it with Ctrl-C.`,
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
		mcfg.WorkDir = filepath.Join(dataDir, "master")
		mcfg.Listen = up.MasterListen
		if mcfg.Listen == "" {
			mcfg.Listen = preferPort(":5050")
		}

		acfg := agent.DefaultConfig()
		acfg.WorkDir = filepath.Join(dataDir, "agent")
		acfg.Listen = up.AgentListen
		if acfg.Listen == "" {
			acfg.Listen = preferPort(":5051")
		}
		if up.Resources != "" {
			acfg.Resources = up.Resources
		}
		return runRoles(ctx, []func([]role) (role, error){
			func([]role) (role, error) { return master.New(mcfg, logger) },
			func(prev []role) (role, error) {
				acfg.Masters = []string{baseURL(prev[0].Addr())}
				a, err := agent.New(acfg, agent.Deps{Logger: logger})
				if err != nil {
					return nil, fmt.Errorf("agent: %w", err)
				}
				return a, nil
			},
		}, func(roles []role) {
			printReady(env, started, [][2]string{
				{"master", baseURL(roles[0].Addr())},
				{"agent", baseURL(roles[1].Addr())},
			})
			fmt.Fprintf(env.Stdout, "data in %s; try: basalt node list --master %s\n", dataDir, baseURL(roles[0].Addr()))
		})
	})
}
