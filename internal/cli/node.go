package cli

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

func newNodeCmd(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Show the nodes of the cluster",
	}
	cmd.AddCommand(newNodeListCmd(env), newNodeDecommissionCmd(env), newNodeRevokeCmd(env))
	return cmd
}

// newNodeDecommissionCmd is `dcos node decommission`: the v1 operator call
// MARK_AGENT_GONE. The agent's tasks are gone; if the agent comes back it
// kills them and registers as a new agent.
func newNodeDecommissionCmd(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "decommission <agent-id>",
		Short: "Mark an agent gone for good: its tasks are lost and it must register anew",
		Args:  cobra.ExactArgs(1),
	}
	client, _ := clientFlags(cmd, env)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := client()
		if err != nil {
			return err
		}
		call := mesosv1.OperatorCall{Type: mesosv1.OperatorMarkAgentGone,
			MarkAgentGone: &mesosv1.OperatorMarkAgentGoneCall{AgentID: mesosv1.ID{Value: args[0]}}}
		if err := c.operator(cmd.Context(), call); err != nil {
			return err
		}
		_, err = fmt.Fprintf(env.Stdout, "Agent %s has been marked as gone.\n", args[0])
		return err
	}
	return cmd
}

func newNodeListCmd(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the leading master and the agents",
		Args:  cobra.NoArgs,
	}
	client, asJSON := clientFlags(cmd, env)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := client()
		if err != nil {
			return err
		}
		st, err := c.masterState(cmd.Context())
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, nonNil(st.raw.Slaves))
		}
		return printNodes(env, st)
	}
	return cmd
}

func printNodes(env Env, st *masterState) error {
	// RUNTIMES (a Basalt column after DC/OS's) lists the container
	// runtimes that work on each agent.
	t := newTable(env.Stdout, "HOSTNAME", "IP", "ID", "TYPE", "REGION", "ZONE", "RUNTIMES")
	if st.ID != "" {
		t.row(st.Hostname, pidIP(st.PID), st.ID, "master (leader)", "", "", "")
	}
	agents := append([]mesosv1.StateAgent(nil), st.Slaves...)
	sort.SliceStable(agents, func(i, j int) bool { return agents[i].Hostname < agents[j].Hostname })
	for _, a := range agents {
		region, zone := "", ""
		if a.Domain != nil && a.Domain.FaultDomain != nil {
			region, zone = a.Domain.FaultDomain.Region.Name, a.Domain.FaultDomain.Zone.Name
		}
		t.row(a.Hostname, pidIP(a.PID), a.ID, agentType(a), region, zone, strings.Join(a.Runtimes, ","))
	}
	return t.flush()
}

// agentType is "agent (public)" for agents reserved to slave_public (how
// DC/OS marks public agents), "agent (inactive)" for deactivated ones.
func agentType(a mesosv1.StateAgent) string {
	typ := "agent"
	if _, ok := a.ReservedResources["slave_public"]; ok {
		typ = "agent (public)"
	}
	if !a.Active {
		typ += " (inactive)"
	}
	return typ
}

func nonNil(raw []json.RawMessage) []json.RawMessage {
	if raw == nil {
		return []json.RawMessage{}
	}
	return raw
}
