package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/basalt-dcos/basalt/internal/cli/clusterstore"
	"github.com/basalt-dcos/basalt/internal/config"
	"github.com/basalt-dcos/basalt/pkg/marathon"
)

// MarathonClientConfig is what the `basalt marathon` commands need to reach
// Marathon and to follow deployments.
//
// Without --marathon (or BASALT_MARATHON_URL) the commands talk to the
// attached cluster's Marathon through Admin Router,
// <url>/service/marathon (or marathon.url), with its token and TLS
// settings; with no attached cluster, to a Marathon on this host. As with
// --master, an explicit --marathon gets no token unless --token gives one.
type MarathonClientConfig struct {
	Marathon     string        `flag:"marathon" env:"BASALT_MARATHON_URL" help:"base URL of Marathon; a path prefix such as https://cluster/service/marathon is kept (default: the attached cluster's <url>/service/marathon, else http://127.0.0.1:8080)"`
	Token        string        `flag:"token" env:"BASALT_TOKEN" help:"auth token to send as \"Authorization: token=...\" (default: the attached cluster's token when --marathon is not given)"`
	Timeout      time.Duration `flag:"timeout" help:"timeout of each HTTP request, the event stream excepted (default: the attached cluster's core.timeout, else 30s)"`
	PollInterval time.Duration `flag:"poll-interval" help:"how often to poll /v2/deployments while following a deployment"`
}

// defaultMarathonURL is a Marathon on this host's port, the target when
// neither --marathon nor an attached cluster says otherwise.
const defaultMarathonURL = "http://127.0.0.1:8080"

// DefaultMarathonClientConfig leaves the target to the attached cluster.
func DefaultMarathonClientConfig() MarathonClientConfig {
	return MarathonClientConfig{PollInterval: 500 * time.Millisecond}
}

// marathonCmd is what every `basalt marathon` subcommand shares: the
// environment and the client config bound to the parent's persistent flags.
type marathonCmd struct {
	env  Env
	cfg  MarathonClientConfig
	load func() error
}

func newMarathonCmd(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "marathon",
		Short: "Deploy and manage Marathon apps, groups, deployments and tasks",
		Long: `Talk to Marathon's /v2 API like "dcos marathon": add, update and scale apps,
follow their deployments, list and kill tasks.

Marathon is found with --marathon or BASALT_MARATHON_URL; without them, it is
the attached cluster's (basalt cluster setup) at <url>/service/marathon, reached
with its token; with no attached cluster, http://127.0.0.1:8080.`,
		Args: cobra.NoArgs,
	}
	m := &marathonCmd{env: env, cfg: DefaultMarathonClientConfig()}
	loader, bindErr := config.Bind(cmd.PersistentFlags(), &m.cfg)
	m.load = func() error {
		if bindErr != nil {
			return bindErr // a programming error in the Config tags
		}
		if err := loader.Load(env.lookupEnv); err != nil {
			return usageError{err}
		}
		return nil
	}
	cmd.AddCommand(m.aboutCmd(), m.appCmd(), m.groupCmd(), m.deploymentCmd(), m.taskCmd(), m.leaderCmd())
	return cmd
}

// client loads the config and builds the Marathon client.
func (m *marathonCmd) client() (*marathon.Client, error) {
	if err := m.load(); err != nil {
		return nil, err
	}
	if m.cfg.PollInterval <= 0 {
		return nil, usageError{fmt.Errorf("--poll-interval %v: want a positive duration", m.cfg.PollInterval)}
	}
	if m.cfg.Timeout < 0 {
		return nil, usageError{fmt.Errorf("--timeout %v: must not be negative", m.cfg.Timeout)}
	}
	if m.cfg.Marathon == "" {
		cl, err := attachedCluster(m.env)
		if err != nil {
			return nil, err
		}
		if cl != nil {
			return m.clusterClient(cl)
		}
		m.cfg.Marathon = defaultMarathonURL
	}
	timeout := m.cfg.Timeout
	if timeout == 0 {
		timeout = defaultClusterTimeout
	}
	opts := []marathon.Option{marathon.WithHTTPClient(&http.Client{Timeout: timeout})}
	if m.cfg.Token != "" {
		opts = append(opts, marathon.WithToken(m.cfg.Token))
	}
	c, err := marathon.NewClient(m.cfg.Marathon, opts...)
	if err != nil {
		return nil, usageError{fmt.Errorf("--marathon: %w", err)}
	}
	return c, nil
}

// clusterClient is the Marathon client of the attached cluster.
func (m *marathonCmd) clusterClient(cl *clusterstore.Cluster) (*marathon.Client, error) {
	dc, err := clientFor(cl, m.cfg.Timeout)
	if err != nil {
		return nil, err
	}
	base := dc.base.JoinPath("service", "marathon").String()
	if u, ok := cl.Config.Get(clusterstore.KeyMarathon); ok && u != "" {
		base = u
	}
	tok := dc.token
	if m.cfg.Token != "" {
		tok = m.cfg.Token
	}
	opts := []marathon.Option{marathon.WithHTTPClient(dc.http)}
	if tok != "" {
		opts = append(opts, marathon.WithToken(tok))
	}
	c, err := marathon.NewClient(base, opts...)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", cl.Name(), err)
	}
	return c, nil
}

// absID makes an app or group ID absolute, as Marathon reports them.
func absID(id string) string { return "/" + strings.Trim(id, "/") }

// readDefinition reads a JSON document from the file named by arg, or from
// stdin when arg is "" or "-", and checks it is JSON.
func readDefinition(cmd *cobra.Command, arg string) ([]byte, error) {
	var (
		data []byte
		err  error
		from = arg
	)
	if arg == "" || arg == "-" {
		from = "stdin"
		data, err = io.ReadAll(io.LimitReader(cmd.InOrStdin(), 64<<20))
	} else {
		data, err = os.ReadFile(arg)
	}
	if err != nil {
		return nil, fmt.Errorf("read definition: %w", err)
	}
	data = bytes.TrimSpace(data)
	if !json.Valid(data) {
		return nil, usageError{fmt.Errorf("%s: not a valid JSON document", from)}
	}
	return data, nil
}

// parseProperties turns key=value pairs into a JSON object, as `dcos
// marathon app update` does: a value that is valid JSON is used as it is
// (instances=3, env={"A":"b"}, cmd="sleep 1"), anything else becomes a
// string (cmd=sleep).
func parseProperties(args []string) ([]byte, error) {
	obj := make(map[string]json.RawMessage, len(args))
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, usageError{fmt.Errorf("%q: want key=value", a)}
		}
		if _, dup := obj[k]; dup {
			return nil, usageError{fmt.Errorf("%q: %s given twice", a, k)}
		}
		if json.Valid([]byte(v)) {
			obj[k] = json.RawMessage(v)
			continue
		}
		s, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		obj[k] = s
	}
	return json.Marshal(obj)
}

// definitionArgs reads the body of an update: nothing or "-" means stdin,
// one argument without "=" a file, key=value pairs a partial object.
func definitionArgs(cmd *cobra.Command, args []string) ([]byte, error) {
	switch {
	case len(args) == 0:
		return readDefinition(cmd, "-")
	case len(args) == 1 && !strings.Contains(args[0], "="):
		return readDefinition(cmd, args[0])
	}
	for _, a := range args {
		if !strings.Contains(a, "=") {
			return nil, usageError{fmt.Errorf("%q: give either one file (or - for stdin) or key=value pairs", a)}
		}
	}
	return parseProperties(args)
}

// shortAction is how tables name a deployment action.
func shortAction(a string) string {
	switch a {
	case marathon.ActionStart, "StartPod":
		return "start"
	case marathon.ActionStop, "StopPod":
		return "stop"
	case marathon.ActionScale, "ScalePod":
		return "scale"
	case marathon.ActionRestart, "RestartPod":
		return "restart"
	case marathon.ActionResolve:
		return "resolve"
	}
	return strings.ToLower(a)
}

// describeActions lists actions as "StartApplication /web, ScaleApplication /db".
func describeActions(actions []marathon.DeploymentAction) string {
	parts := make([]string, 0, len(actions))
	for _, a := range actions {
		parts = append(parts, a.Action+" "+a.App)
	}
	return strings.Join(parts, ", ")
}

func currentActions(d marathon.Deployment) []marathon.DeploymentAction {
	out := make([]marathon.DeploymentAction, 0, len(d.CurrentActions))
	for _, a := range d.CurrentActions {
		out = append(out, marathon.DeploymentAction{Action: a.Action, App: a.App})
	}
	return out
}

// printDeploymentCreated is what every command that starts a deployment prints.
// deployingCmd completes cmd as a command that starts a deployment: it adds
// --force, calls do with a client, and prints the deployment's ID.
func (m *marathonCmd) deployingCmd(cmd *cobra.Command, forceHelp string,
	do func(ctx context.Context, c *marathon.Client, args []string, force bool) (*marathon.DeploymentResult, error)) *cobra.Command {
	force := cmd.Flags().Bool("force", false, forceHelp)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := m.client()
		if err != nil {
			return err
		}
		res, err := do(cmd.Context(), c, args, *force)
		if err != nil {
			return err
		}
		return printDeploymentCreated(m.env.Stdout, res)
	}
	return cmd
}

func printDeploymentCreated(w io.Writer, res *marathon.DeploymentResult) error {
	if res == nil || res.DeploymentID == "" {
		return nil
	}
	_, err := fmt.Fprintf(w, "Created deployment %s\n", res.DeploymentID)
	return err
}

// printKillResult prints the killed tasks or the deployment that kills them.
func printKillResult(w io.Writer, res *marathon.KillResult) error {
	if res.Deployment != nil {
		return printDeploymentCreated(w, res.Deployment)
	}
	ids := make([]string, 0, len(res.Tasks))
	for _, t := range res.Tasks {
		ids = append(ids, t.ID)
	}
	sort.Strings(ids)
	if _, err := fmt.Fprintf(w, "Killed %d task(s)\n", len(ids)); err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := fmt.Fprintf(w, "  %s\n", id); err != nil {
			return err
		}
	}
	return nil
}

func (m *marathonCmd) aboutCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "about",
		Short: "Describe the Marathon (GET /v2/info)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := m.client()
			if err != nil {
				return err
			}
			info, err := c.Info(cmd.Context())
			if err != nil {
				return err
			}
			return printJSON(m.env.Stdout, info)
		},
	}
}

func (m *marathonCmd) leaderCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "leader", Short: "Show or depose the leading Marathon", Args: cobra.NoArgs}
	show := &cobra.Command{Use: "show", Short: "Print the leader's host:port", Args: cobra.NoArgs}
	asJSON := show.Flags().Bool("json", false, "print the raw API JSON")
	show.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := m.client()
		if err != nil {
			return err
		}
		l, err := c.Leader(cmd.Context())
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(m.env.Stdout, marathon.Leader{Leader: l})
		}
		_, err = fmt.Fprintln(m.env.Stdout, l)
		return err
	}
	del := &cobra.Command{
		Use:   "delete",
		Short: "Make the leader abdicate; another Marathon is elected",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := m.client()
			if err != nil {
				return err
			}
			msg, err := c.Abdicate(cmd.Context())
			if err != nil {
				return err
			}
			if msg == "" {
				msg = "Leadership abdicated"
			}
			_, err = fmt.Fprintln(m.env.Stdout, msg)
			return err
		},
	}
	cmd.AddCommand(show, del)
	return cmd
}
