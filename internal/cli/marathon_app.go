package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/basalt-dcos/basalt/pkg/marathon"
)

func (m *marathonCmd) appCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "app", Short: "Add, list, show, update, scale and remove apps", Args: cobra.NoArgs}
	version := &cobra.Command{Use: "version", Short: "Inspect an app's versions", Args: cobra.NoArgs}
	version.AddCommand(m.appVersionListCmd())
	cmd.AddCommand(m.appAddCmd(), m.appListCmd(), m.appShowCmd(), m.appUpdateCmd(), m.appRemoveCmd(),
		m.appRestartCmd(), m.appKillCmd(), m.appStopCmd(), m.appStartCmd(), version)
	return cmd
}

// submit runs a change and, unless noWait, follows the deployment it starts.
// The event stream is opened first so a quick deployment's end is not missed.
func (m *marathonCmd) submit(ctx context.Context, c *marathon.Client, noWait bool, change func() (string, error)) error {
	var events <-chan marathon.Event
	if !noWait {
		sctx, cancel := context.WithCancel(ctx)
		defer cancel() // closes the stream
		ctx = sctx
		events = subscribeDeployments(ctx, c)
	}
	id, err := change()
	if err != nil {
		return err
	}
	if err := printDeploymentCreated(m.env.Stdout, &marathon.DeploymentResult{DeploymentID: id}); err != nil {
		return err
	}
	if noWait || id == "" {
		return nil
	}
	return followDeployment(ctx, c, id, events, m.cfg.PollInterval, m.env.Stdout)
}

func (m *marathonCmd) appAddCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "add [<file>|-]",
		Short: "Add an app from a JSON definition (a file, or stdin) and follow its deployment",
		Args:  cobra.MaximumNArgs(1),
	}
	noWait := cmd.Flags().Bool("no-wait", false, "do not follow the deployment")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
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
		return m.submit(cmd.Context(), c, *noWait, func() (string, error) {
			_, dep, err := c.CreateApp(cmd.Context(), def)
			return dep, err
		})
	}
	return cmd
}

func (m *marathonCmd) appUpdateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "update <app-id> [<file>|-|<key>=<value>...]",
		Short: "Update an app from a (partial) JSON definition or key=value pairs and follow the deployment",
		Long: `Update an app. The change is a JSON document from a file or stdin, or
key=value pairs: a value that is valid JSON is used as JSON (instances=3,
env='{"A":"b"}'), anything else as a string (cmd="sleep 100").`,
		Args: cobra.MinimumNArgs(1),
	}
	force := cmd.Flags().Bool("force", false, "override deployments that hold the app")
	noWait := cmd.Flags().Bool("no-wait", false, "do not follow the deployment")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := m.client()
		if err != nil {
			return err
		}
		body, err := definitionArgs(cmd, args[1:])
		if err != nil {
			return err
		}
		return m.submit(cmd.Context(), c, *noWait, func() (string, error) {
			res, err := c.UpdateApp(cmd.Context(), args[0], body, *force)
			if err != nil {
				return "", err
			}
			return res.DeploymentID, nil
		})
	}
	return cmd
}

// appRow is what `app list` shows of one app.
func appRow(a marathon.AppInfo, deps []marathon.Deployment, waiting map[string]bool) []string {
	health := "---"
	if len(a.HealthChecks) > 0 {
		health = fmt.Sprintf("%d/%d", a.TasksHealthy, a.TasksHealthy+a.TasksUnhealthy)
	}
	deployment := "-"
	for _, d := range deps {
		for _, ca := range d.CurrentActions {
			if ca.App == a.ID {
				deployment = shortAction(ca.Action)
			}
		}
	}
	container := ""
	if a.Container != nil {
		container = strings.ToLower(a.Container.Type)
	}
	cmdline := ""
	if a.Cmd != nil {
		cmdline = *a.Cmd
	} else if len(a.Args) > 0 {
		cmdline = strings.Join(a.Args, " ")
	}
	wait := "False"
	if waiting[a.ID] {
		wait = "True"
	}
	return []string{a.ID, num(a.Mem), num(a.Cpus), fmt.Sprintf("%d/%d", a.TasksRunning, a.Instances),
		health, deployment, wait, container, cmdline}
}

func (m *marathonCmd) appListCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "list", Short: "List apps", Args: cobra.NoArgs}
	asJSON := cmd.Flags().Bool("json", false, "print the raw API JSON")
	quiet := cmd.Flags().BoolP("quiet", "q", false, "print app IDs only")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := m.client()
		if err != nil {
			return err
		}
		apps, err := c.Apps(cmd.Context(), nil)
		if err != nil {
			return err
		}
		sort.Slice(apps, func(i, j int) bool { return apps[i].ID < apps[j].ID })
		if *asJSON {
			if apps == nil {
				apps = []marathon.AppInfo{}
			}
			return printJSON(m.env.Stdout, apps)
		}
		if *quiet {
			for _, a := range apps {
				fmt.Fprintln(m.env.Stdout, a.ID)
			}
			return nil
		}
		deps, err := c.Deployments(cmd.Context())
		if err != nil {
			return err
		}
		queue, err := c.Queue(cmd.Context())
		if err != nil {
			return err
		}
		waiting := map[string]bool{}
		for _, q := range queue {
			if q.App != nil {
				waiting[q.App.ID] = true
			}
		}
		t := newTable(m.env.Stdout, "ID", "MEM", "CPUS", "TASKS", "HEALTH", "DEPLOYMENT", "WAITING", "CONTAINER", "CMD")
		for _, a := range apps {
			t.row(appRow(a, deps, waiting)...)
		}
		return t.flush()
	}
	return cmd
}

func (m *marathonCmd) appShowCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show <app-id>",
		Short: "Print an app's definition and status as JSON",
		Args:  cobra.ExactArgs(1),
	}
	version := cmd.Flags().String("app-version", "", "a version timestamp, or -N for the Nth version before the current one")
	cmd.Flags().Bool("json", true, "print JSON (always on; accepted for symmetry)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := m.client()
		if err != nil {
			return err
		}
		if *version == "" {
			app, err := c.App(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printJSON(m.env.Stdout, app)
		}
		v := *version
		if n, err := strconv.Atoi(v); err == nil {
			if n >= 0 {
				return usageError{fmt.Errorf("--app-version %d: relative versions are negative (-1 is the previous one)", n)}
			}
			versions, err := c.AppVersions(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if -n >= len(versions) {
				return fmt.Errorf("app %s has %d versions: there is no version %d", absID(args[0]), len(versions), n)
			}
			v = versions[-n]
		}
		app, err := c.AppVersion(cmd.Context(), args[0], v)
		if err != nil {
			return err
		}
		return printJSON(m.env.Stdout, app)
	}
	return cmd
}

func (m *marathonCmd) appRemoveCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "remove <app-id>", Short: "Remove an app and kill its tasks", Args: cobra.ExactArgs(1)}
	return m.deployingCmd(cmd, "override deployments that hold the app",
		func(ctx context.Context, c *marathon.Client, args []string, force bool) (*marathon.DeploymentResult, error) {
			return c.DeleteApp(ctx, args[0], force)
		})
}

func (m *marathonCmd) appRestartCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "restart <app-id>", Short: "Replace every task of an app (rolling)", Args: cobra.ExactArgs(1)}
	return m.deployingCmd(cmd, "override deployments that hold the app",
		func(ctx context.Context, c *marathon.Client, args []string, force bool) (*marathon.DeploymentResult, error) {
			return c.RestartApp(ctx, args[0], force)
		})
}

func (m *marathonCmd) appKillCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "kill <app-id>", Short: "Kill an app's tasks (Marathon restarts them unless --scale)", Args: cobra.ExactArgs(1)}
	scale := cmd.Flags().Bool("scale", false, "also lower the app's instances by the number of killed tasks")
	host := cmd.Flags().String("host", "", "only kill the tasks on this host")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := m.client()
		if err != nil {
			return err
		}
		res, err := c.KillAppTasks(cmd.Context(), args[0], *host, *scale, false)
		if err != nil {
			return err
		}
		return printKillResult(m.env.Stdout, res)
	}
	return cmd
}

// scaleApp sets an app's instances after checking it is not already in the
// wanted state (stop: 0 instances; start: some).
func (m *marathonCmd) scaleApp(ctx context.Context, id string, instances int, force bool) error {
	c, err := m.client()
	if err != nil {
		return err
	}
	app, err := c.App(ctx, id)
	if err != nil {
		return err
	}
	switch {
	case instances == 0 && app.Instances == 0:
		return fmt.Errorf("app %s is already stopped", app.ID)
	case instances > 0 && app.Instances > 0:
		return fmt.Errorf("app %s is already started: %d instances", app.ID, app.Instances)
	}
	body, err := json.Marshal(map[string]int{"instances": instances})
	if err != nil {
		return err
	}
	res, err := c.UpdateApp(ctx, id, body, force)
	if err != nil {
		return err
	}
	return printDeploymentCreated(m.env.Stdout, res)
}

func (m *marathonCmd) appStopCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "stop <app-id>", Short: "Scale an app to 0 instances", Args: cobra.ExactArgs(1)}
	force := cmd.Flags().Bool("force", false, "override deployments that hold the app")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return m.scaleApp(cmd.Context(), args[0], 0, *force)
	}
	return cmd
}

func (m *marathonCmd) appStartCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "start <app-id> [<instances>]", Short: "Scale a stopped app to some instances (default 1)", Args: cobra.RangeArgs(1, 2)}
	force := cmd.Flags().Bool("force", false, "override deployments that hold the app")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		n := 1
		if len(args) == 2 {
			var err error
			n, err = strconv.Atoi(args[1])
			if err != nil || n < 1 {
				return usageError{fmt.Errorf("instances %q: want a positive integer", args[1])}
			}
		}
		return m.scaleApp(cmd.Context(), args[0], n, *force)
	}
	return cmd
}

func (m *marathonCmd) appVersionListCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "list <app-id>", Short: "List an app's versions, newest first, as JSON", Args: cobra.ExactArgs(1)}
	maxCount := cmd.Flags().Int("max-count", 0, "print at most this many versions (0: all)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if *maxCount < 0 {
			return usageError{fmt.Errorf("--max-count %d: want 0 or more", *maxCount)}
		}
		c, err := m.client()
		if err != nil {
			return err
		}
		versions, err := c.AppVersions(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		if versions == nil {
			versions = []string{}
		}
		if *maxCount > 0 && len(versions) > *maxCount {
			versions = versions[:*maxCount]
		}
		return printJSON(m.env.Stdout, versions)
	}
	return cmd
}
