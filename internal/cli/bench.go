package cli

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/spf13/cobra"

	"github.com/basalt-dcos/basalt/internal/simagent"
)

// newBenchCmd groups the load tools: `basalt bench sim-agents`.
func newBenchCmd(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load tools for testing a cluster at scale",
	}
	cmd.AddCommand(newSimAgentsCmd(env))
	return cmd
}

// simAgentsReport is how often sim-agents logs its counters.
const simAgentsReport = 10 * time.Second

func newSimAgentsCmd(env Env) *cobra.Command {
	cfg := simagent.DefaultConfig(100)
	cmd := &cobra.Command{
		Use:   "sim-agents",
		Short: "Simulate many agents in this process against a real cluster",
		Long: `Run --count simulated agents in this process. Each speaks the real agent protocol
to the leading master over its own connection: it registers (re-registers with a
stable id), heartbeats, runs the tasks it is given on the fake containerizer
(RUNNING at once; fake.* task labels and --exit-after / --fail-probability script
their ends), and sends status updates until they are acknowledged. No process
runs and the agents' own HTTP endpoints are not served. With --state-file, a
restarted simulator comes back as the same agents with the same tasks.

Example: basalt bench sim-agents --count 10000 --master http://127.0.0.1:5050`,
	}
	return serverCmd(env, cmd, []any{&cfg}, func(ctx context.Context, logger *slog.Logger) error {
		sim, err := simagent.New(cfg, logger)
		if err != nil {
			return usageError{err}
		}
		done := make(chan error, 1)
		go func() { done <- sim.Run(ctx) }()
		fmt.Fprintf(env.Stdout, "simulating %d agents against %v\n", cfg.Count, cfg.Masters)
		tick := time.NewTicker(simAgentsReport)
		defer tick.Stop()
		for {
			select {
			case err := <-done:
				return err
			case <-tick.C:
				st := sim.Stats()
				logger.Info("simulated agents", "connected", st.Connected, "agents", st.Agents, "tasks", st.Tasks,
					"pending_updates", st.Pending, "updates_sent", st.UpdatesSent, "acks", st.Acks, "call_errors", st.CallErrors)
			}
		}
	})
}
