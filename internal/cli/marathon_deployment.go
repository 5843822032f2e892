package cli

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/basalt-dcos/basalt/pkg/marathon"
)

func (m *marathonCmd) deploymentCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "deployment", Short: "List, watch, stop and roll back deployments", Args: cobra.NoArgs}
	cmd.AddCommand(m.deploymentListCmd(), m.deploymentRollbackCmd(), m.deploymentStopCmd(), m.deploymentWatchCmd())
	return cmd
}

// deploymentRow is what `deployment list` shows of one deployment.
func deploymentRow(d marathon.Deployment) []string {
	var actions []string
	for _, a := range d.CurrentActions {
		if s := shortAction(a.Action); !slices.Contains(actions, s) {
			actions = append(actions, s)
		}
	}
	return []string{strings.Join(d.AffectedApps, ","), strings.Join(d.AffectedPods, ","),
		strings.Join(actions, ","), fmt.Sprintf("%d/%d", d.CurrentStep, d.TotalSteps), d.ID}
}

func (m *marathonCmd) deploymentListCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "list [<app-id>]", Short: "List running deployments, only those of an app if given", Args: cobra.MaximumNArgs(1)}
	asJSON := cmd.Flags().Bool("json", false, "print the raw API JSON")
	quiet := cmd.Flags().BoolP("quiet", "q", false, "print deployment IDs only")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := m.client()
		if err != nil {
			return err
		}
		all, err := c.Deployments(cmd.Context())
		if err != nil {
			return err
		}
		deps := []marathon.Deployment{}
		for _, d := range all {
			if len(args) == 0 || slices.Contains(d.AffectedApps, absID(args[0])) {
				deps = append(deps, d)
			}
		}
		sort.Slice(deps, func(i, j int) bool { return deps[i].ID < deps[j].ID })
		switch {
		case *asJSON:
			return printJSON(m.env.Stdout, deps)
		case *quiet:
			for _, d := range deps {
				fmt.Fprintln(m.env.Stdout, d.ID)
			}
			return nil
		}
		t := newTable(m.env.Stdout, "APP", "POD", "ACTION", "PROGRESS", "ID")
		for _, d := range deps {
			t.row(deploymentRow(d)...)
		}
		return t.flush()
	}
	return cmd
}

func (m *marathonCmd) deploymentRollbackCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rollback <deployment-id>",
		Short: "Cancel a deployment and start one that reverts its changes",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := m.client()
			if err != nil {
				return err
			}
			res, err := c.DeleteDeployment(cmd.Context(), args[0], false)
			if err != nil {
				return err
			}
			return printJSON(m.env.Stdout, res)
		},
	}
}

func (m *marathonCmd) deploymentStopCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "stop <deployment-id>",
		Short: "Cancel a deployment, leaving its apps as they are now",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := m.client()
			if err != nil {
				return err
			}
			if _, err := c.DeleteDeployment(cmd.Context(), args[0], true); err != nil {
				return err
			}
			_, err = fmt.Fprintf(m.env.Stdout, "Stopped deployment %s\n", args[0])
			return err
		},
	}
}

func (m *marathonCmd) deploymentWatchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "watch <deployment-id>",
		Short: "Print a deployment's progress until it ends",
		Args:  cobra.ExactArgs(1),
	}
	maxCount := cmd.Flags().Int("max-count", 0, "stop after this many looks (0: until the deployment ends)")
	interval := cmd.Flags().Float64("interval", 1, "seconds between looks")
	asJSON := cmd.Flags().Bool("json", false, "print the deployment's JSON at each look")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if *maxCount < 0 {
			return usageError{fmt.Errorf("--max-count %d: want 0 or more", *maxCount)}
		}
		if !(*interval > 0) || *interval > math.MaxInt64/float64(time.Second) {
			return usageError{fmt.Errorf("--interval %v: want a positive number of seconds", *interval)}
		}
		c, err := m.client()
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		ticker := time.NewTicker(time.Duration(*interval * float64(time.Second)))
		defer ticker.Stop()
		for n := 1; ; n++ {
			deps, err := c.Deployments(ctx)
			if err != nil {
				return err
			}
			i := slices.IndexFunc(deps, func(d marathon.Deployment) bool { return d.ID == args[0] })
			if i < 0 {
				_, err := fmt.Fprintf(m.env.Stdout, "Deployment %s is not running\n", args[0])
				return err
			}
			d := deps[i]
			if *asJSON {
				err = printJSON(m.env.Stdout, d)
			} else {
				_, err = fmt.Fprintf(m.env.Stdout, "Deployment %s: step %d/%d: %s\n", d.ID, d.CurrentStep, d.TotalSteps, describeActions(currentActions(d)))
			}
			if err != nil || (*maxCount > 0 && n >= *maxCount) {
				return err
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-ticker.C:
			}
		}
	}
	return cmd
}
