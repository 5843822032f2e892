package cli

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/basalt-dcos/basalt/pkg/marathon"
)

func (m *marathonCmd) groupCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "group", Short: "Add, list, show, update, scale and remove groups", Args: cobra.NoArgs}
	cmd.AddCommand(m.groupAddCmd(), m.groupListCmd(), m.groupShowCmd(), m.groupUpdateCmd(), m.groupRemoveCmd(), m.groupScaleCmd())
	return cmd
}

func (m *marathonCmd) groupAddCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "add [<file>|-]",
		Short: "Add a group from a JSON definition (a file, or stdin)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := m.client()
			if err != nil {
				return err
			}
			arg := ""
			if len(args) == 1 {
				arg = args[0]
			}
			def, err := readDefinition(cmd, arg)
			if err != nil {
				return err
			}
			res, err := c.CreateGroup(cmd.Context(), def)
			if err != nil {
				return err
			}
			return printDeploymentCreated(m.env.Stdout, res)
		},
	}
}

// flattenGroups lists g's subgroups, depth first, sorted by ID; the root
// group "/" itself is left out.
func flattenGroups(g marathon.GroupInfo) []marathon.GroupInfo {
	var out []marathon.GroupInfo
	if g.ID != "/" && g.ID != "" {
		out = append(out, g)
	}
	subs := append([]marathon.GroupInfo(nil), g.Groups...)
	sort.Slice(subs, func(i, j int) bool { return subs[i].ID < subs[j].ID })
	for _, s := range subs {
		out = append(out, flattenGroups(s)...)
	}
	return out
}

func (m *marathonCmd) groupListCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List groups and how many apps each holds", Args: cobra.NoArgs}
	asJSON := cmd.Flags().Bool("json", false, "print the raw API JSON")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := m.client()
		if err != nil {
			return err
		}
		root, err := c.Groups(cmd.Context(), "/")
		if err != nil {
			return err
		}
		groups := flattenGroups(*root)
		if *asJSON {
			if groups == nil {
				groups = []marathon.GroupInfo{}
			}
			return printJSON(m.env.Stdout, groups)
		}
		t := newTable(m.env.Stdout, "ID", "APPS")
		for _, g := range groups {
			t.row(g.ID, strconv.Itoa(len(g.Apps)))
		}
		return t.flush()
	}
	return cmd
}

func (m *marathonCmd) groupShowCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "show <group-id>", Short: "Print a group as JSON", Args: cobra.ExactArgs(1)}
	cmd.Flags().Bool("json", true, "print JSON (always on; accepted for symmetry)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := m.client()
		if err != nil {
			return err
		}
		g, err := c.Groups(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		return printJSON(m.env.Stdout, g)
	}
	return cmd
}

func (m *marathonCmd) groupUpdateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "update <group-id> [<file>|-|<key>=<value>...]",
		Short: "Update a group from a JSON definition or key=value pairs",
		Args:  cobra.MinimumNArgs(1),
	}
	return m.deployingCmd(cmd, "override deployments that hold the group's apps",
		func(ctx context.Context, c *marathon.Client, args []string, force bool) (*marathon.DeploymentResult, error) {
			body, err := definitionArgs(cmd, args[1:])
			if err != nil {
				return nil, err
			}
			return c.UpdateGroup(ctx, args[0], body, force)
		})
}

func (m *marathonCmd) groupRemoveCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "remove <group-id>", Short: "Remove a group and everything in it", Args: cobra.ExactArgs(1)}
	return m.deployingCmd(cmd, "override deployments that hold the group's apps",
		func(ctx context.Context, c *marathon.Client, args []string, force bool) (*marathon.DeploymentResult, error) {
			return c.DeleteGroup(ctx, args[0], force)
		})
}

func (m *marathonCmd) groupScaleCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "scale <group-id> <factor>", Short: "Multiply the instances of every app in a group", Args: cobra.ExactArgs(2)}
	return m.deployingCmd(cmd, "override deployments that hold the group's apps",
		func(ctx context.Context, c *marathon.Client, args []string, force bool) (*marathon.DeploymentResult, error) {
			factor, err := strconv.ParseFloat(args[1], 64)
			if err != nil || factor < 0 {
				return nil, usageError{fmt.Errorf("factor %q: want a number of 0 or more", args[1])}
			}
			return c.ScaleGroup(ctx, args[0], factor, force)
		})
}
