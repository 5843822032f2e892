package cli

import (
	"encoding/json"
	"sort"

	"github.com/spf13/cobra"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

func newNodeCmd(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Show the nodes of the cluster",
	}
	cmd.AddCommand(newNodeListCmd(env))
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
	t := newTable(env.Stdout, "HOSTNAME", "IP", "ID", "TYPE", "REGION", "ZONE")
	if st.ID != "" {
		t.row(st.Hostname, pidIP(st.PID), st.ID, "master (leader)", "", "")
	}
	agents := append([]mesosv1.StateAgent(nil), st.Slaves...)
	sort.SliceStable(agents, func(i, j int) bool { return agents[i].Hostname < agents[j].Hostname })
	for _, a := range agents {
		region, zone := "", ""
		if a.Domain != nil && a.Domain.FaultDomain != nil {
			region, zone = a.Domain.FaultDomain.Region.Name, a.Domain.FaultDomain.Zone.Name
		}
		t.row(a.Hostname, pidIP(a.PID), a.ID, agentType(a), region, zone)
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
