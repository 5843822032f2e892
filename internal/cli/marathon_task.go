package cli

import (
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"github.com/basalt-dcos/basalt/pkg/marathon"
)

func (m *marathonCmd) taskCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "task", Short: "List, show and kill Marathon's tasks", Args: cobra.NoArgs}
	cmd.AddCommand(m.taskListCmd(), m.taskShowCmd(), m.taskKillCmd())
	return cmd
}

// taskHealthy is True when every health check passes, False when one
// fails, and "" (shown N/A) without health check results.
func taskHealthy(t marathon.Task) string {
	if len(t.HealthCheckResults) == 0 {
		return ""
	}
	for _, r := range t.HealthCheckResults {
		if !r.Alive {
			return "False"
		}
	}
	return "True"
}

func (m *marathonCmd) taskListCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "list [<app-id>]", Short: "List tasks, only those of an app if given", Args: cobra.MaximumNArgs(1)}
	asJSON := cmd.Flags().Bool("json", false, "print the raw API JSON")
	quiet := cmd.Flags().BoolP("quiet", "q", false, "print task IDs only")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := m.client()
		if err != nil {
			return err
		}
		var tasks []marathon.Task
		if len(args) == 1 {
			tasks, err = c.AppTasks(cmd.Context(), args[0])
		} else {
			tasks, err = c.Tasks(cmd.Context())
		}
		if err != nil {
			return err
		}
		sort.Slice(tasks, func(i, j int) bool {
			if tasks[i].AppID != tasks[j].AppID {
				return tasks[i].AppID < tasks[j].AppID
			}
			return tasks[i].ID < tasks[j].ID
		})
		switch {
		case *asJSON:
			if tasks == nil {
				tasks = []marathon.Task{}
			}
			return printJSON(m.env.Stdout, tasks)
		case *quiet:
			for _, t := range tasks {
				fmt.Fprintln(m.env.Stdout, t.ID)
			}
			return nil
		}
		t := newTable(m.env.Stdout, "APP", "HOST", "STATE", "HEALTHY", "STARTED", "ID")
		for _, task := range tasks {
			t.row(task.AppID, task.Host, shortState(task.State), taskHealthy(task), task.StartedAt, task.ID)
		}
		return t.flush()
	}
	return cmd
}

func (m *marathonCmd) taskShowCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "show <task-id>", Short: "Print a task as JSON", Args: cobra.ExactArgs(1)}
	cmd.Flags().Bool("json", true, "print JSON (always on; accepted for symmetry)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := m.client()
		if err != nil {
			return err
		}
		tasks, err := c.Tasks(cmd.Context())
		if err != nil {
			return err
		}
		for _, t := range tasks {
			if t.ID == args[0] {
				return printJSON(m.env.Stdout, t)
			}
		}
		return fmt.Errorf("task %s does not exist", args[0])
	}
	return cmd
}

func (m *marathonCmd) taskKillCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "kill <task-id>...", Short: "Kill tasks (Marathon replaces them unless --scale)", Args: cobra.MinimumNArgs(1)}
	scale := cmd.Flags().Bool("scale", false, "also lower the apps' instances")
	wipe := cmd.Flags().Bool("wipe", false, "also forget the tasks' reservations and volumes (resident tasks)")
	asJSON := cmd.Flags().Bool("json", false, "print the killed tasks as JSON")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := m.client()
		if err != nil {
			return err
		}
		res, err := c.KillTasks(cmd.Context(), args, *scale, *wipe)
		if err != nil {
			return err
		}
		if *asJSON {
			if res.Deployment != nil {
				return printJSON(m.env.Stdout, res.Deployment)
			}
			tasks := res.Tasks
			if tasks == nil {
				tasks = []marathon.Task{}
			}
			return printJSON(m.env.Stdout, tasks)
		}
		return printKillResult(m.env.Stdout, res)
	}
	return cmd
}
