package cli

import (
	"encoding/json"
	"strconv"

	"github.com/spf13/cobra"
)

func newServiceCmd(env Env) *cobra.Command {
	cmd := newServiceListCmd(env, "service")
	cmd.Short = "List the services (Mesos frameworks) of the cluster"
	cmd.AddCommand(newServiceListCmd(env, "list"))
	return cmd
}

func newServiceListCmd(env Env, use string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   use,
		Short: "List the services (Mesos frameworks)",
		Args:  cobra.NoArgs,
	}
	client, asJSON := clientFlags(cmd, env)
	completed := cmd.Flags().Bool("completed", false, "also show completed services")
	inactive := cmd.Flags().Bool("inactive", false, "also show inactive services")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := client()
		if err != nil {
			return err
		}
		st, err := c.masterState(cmd.Context())
		if err != nil {
			return err
		}
		raws := []json.RawMessage{}
		t := newTable(env.Stdout, "NAME", "HOST", "ACTIVE", "TASKS", "CPU", "MEM", "DISK", "ID")
		for i, f := range st.Frameworks {
			if !f.Active && !*inactive {
				continue
			}
			raws = append(raws, st.raw.Frameworks[i].self)
			t.row(f.Name, f.Hostname, strconv.FormatBool(f.Active), strconv.Itoa(len(f.Tasks)),
				num(scalar(f.UsedResources, "cpus")), num(scalar(f.UsedResources, "mem")),
				num(scalar(f.UsedResources, "disk")), f.ID)
		}
		if *completed {
			for i, f := range st.CompletedFrameworks {
				raws = append(raws, st.raw.CompletedFrameworks[i].self)
				t.row(f.Name, f.Hostname, "false", "0", "0", "0", "0", f.ID)
			}
		}
		if *asJSON {
			return printJSON(env.Stdout, raws)
		}
		return t.flush()
	}
	return cmd
}
