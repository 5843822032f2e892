package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/basalt-dcos/basalt/internal/cli/clusterstore"
	"github.com/basalt-dcos/basalt/internal/config"
)

// caFile is the name of the copy of --ca-certs kept in a cluster's
// directory, so that moving or deleting the original breaks nothing.
const caFile = "ca.pem"

// defaultClusterTimeout is the request timeout when core.timeout is unset.
const defaultClusterTimeout = 30 * time.Second

// clusterStore is the store under $BASALT_DIR, else $HOME/.basalt. Both come
// from env, so tests never see the user's clusters.
func clusterStore(env Env) (clusterstore.Store, error) {
	if d, ok := env.lookupEnv("BASALT_DIR"); ok && d != "" {
		return clusterstore.Store{Dir: d}, nil
	}
	if h, ok := env.lookupEnv("HOME"); ok && h != "" {
		return clusterstore.Store{Dir: filepath.Join(h, ".basalt")}, nil
	}
	return clusterstore.Store{}, errors.New("neither BASALT_DIR nor HOME is set: no place for the cluster configuration")
}

// attachedCluster returns the attached cluster, or nil when there is no
// store or no attached cluster. Other errors (an unreadable or insecure
// cluster.toml) are returned: falling back to another target would be a
// surprise.
func attachedCluster(env Env) (*clusterstore.Cluster, error) {
	s, err := clusterStore(env)
	if err != nil {
		return nil, nil
	}
	c, err := s.Attached()
	if errors.Is(err, clusterstore.ErrNoneAttached) {
		return nil, nil
	}
	return c, err
}

// mustAttached is attachedCluster for commands that need one.
func mustAttached(env Env) (clusterstore.Store, *clusterstore.Cluster, error) {
	s, err := clusterStore(env)
	if err != nil {
		return s, nil, err
	}
	c, err := s.Attached()
	if errors.Is(err, clusterstore.ErrNoneAttached) {
		return s, nil, errors.New(`no cluster is attached: run "basalt cluster setup <url>" or "basalt cluster attach <name>"`)
	}
	return s, c, err
}

// clusterTimeout is core.timeout (seconds), else the default.
func clusterTimeout(c *clusterstore.Cluster) (time.Duration, error) {
	v, ok := c.Config.Get(clusterstore.KeyTimeout)
	if !ok || v == "" {
		return defaultClusterTimeout, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("cluster %s: core.timeout %q: want a positive number of seconds", c.Name(), v)
	}
	return time.Duration(n) * time.Second, nil
}

// clientFor builds the Admin Router client of a stored cluster: its URL,
// TLS settings, token and timeout (timeout > 0 overrides core.timeout).
func clientFor(c *clusterstore.Cluster, timeout time.Duration) (*dcosClient, error) {
	u, err := parseClusterURL(c.URL())
	if err != nil {
		return nil, fmt.Errorf("cluster %s: core.dcos_url: %w", c.Name(), err)
	}
	sv, _ := c.Config.Get(clusterstore.KeySSLVerify)
	tc, err := tlsConfig(sv)
	if err != nil {
		return nil, fmt.Errorf("cluster %s: %w", c.Name(), err)
	}
	if timeout <= 0 {
		if timeout, err = clusterTimeout(c); err != nil {
			return nil, err
		}
	}
	tok, _ := c.Config.Get(clusterstore.KeyToken)
	return &dcosClient{base: u, http: newHTTPClient(tc, timeout), token: tok}, nil
}

// bindFlags binds config structs to cmd's flags and returns their loader.
func bindFlags(cmd *cobra.Command, env Env, targets ...any) func() error {
	loader, bindErr := config.Bind(cmd.Flags(), targets...)
	return func() error {
		if bindErr != nil {
			return bindErr // a programming error in the Config tags
		}
		if err := loader.Load(env.lookupEnv); err != nil {
			return usageError{err}
		}
		return nil
	}
}

func newClusterCmd(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Set up, list and switch between the clusters this CLI talks to",
		Long: `Manage the clusters the client commands talk to, as "dcos cluster" does.

"basalt cluster setup <url>" logs in to a cluster through its Admin Router,
stores its URL, TLS settings and token under ~/.basalt/clusters/<cluster-id>/
($BASALT_DIR instead of ~/.basalt) and attaches it: from then on node, service,
task and marathon commands reach it through Admin Router with that token,
unless --master / --marathon (or their environment variables) name a target.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newClusterSetupCmd(env), newClusterListCmd(env), newClusterAttachCmd(env),
		newClusterRemoveCmd(env), newClusterRenameCmd(env))
	return cmd
}

// SetupConfig is `basalt cluster setup`'s flags.
type SetupConfig struct {
	Name     string        `flag:"name" help:"name of the cluster in this CLI (default: the cluster's own name, else its host)"`
	Insecure bool          `flag:"insecure" help:"https only: do not verify the cluster's certificate (anyone on the path can then read your token)"`
	CACerts  string        `flag:"ca-certs" help:"https only: PEM file of CA certificates to verify the cluster's certificate with instead of the system's; a copy is kept with the cluster"`
	Timeout  time.Duration `flag:"timeout" help:"timeout of each HTTP request; stored as core.timeout"`
	Login    LoginConfig
}

func newClusterSetupCmd(env Env) *cobra.Command {
	cfg := SetupConfig{Timeout: defaultClusterTimeout}
	cmd := &cobra.Command{
		Use:   "setup <url>",
		Short: "Log in to a cluster through its Admin Router, store it and attach it",
		Long: `Set up a cluster: check that <url> is a DC/OS-style Admin Router
(/dcos-metadata/dcos-version.json), log in if it asks for it (a protected
resource answers 401) or if credentials are given, read its ID from /metadata,
store it under ~/.basalt/clusters/<cluster-id>/ and attach it.

Users log in with --username and a password (--password-file, --password-env,
--password, or a prompt without echo on a terminal); service accounts with
--username and --private-key, from which a short-lived RS256 login token is
signed locally. https URLs are verified against the system's CAs unless
--ca-certs or --insecure is given. Setting up a cluster that is already
stored updates it.`,
		Args: cobra.ExactArgs(1),
	}
	load := bindFlags(cmd, env, &cfg)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := load(); err != nil {
			return err
		}
		return setupCluster(cmd.Context(), env, args[0], cfg)
	}
	return cmd
}

func setupCluster(ctx context.Context, env Env, rawURL string, cfg SetupConfig) error {
	store, err := clusterStore(env)
	if err != nil {
		return err
	}
	u, err := parseClusterURL(rawURL)
	if err != nil {
		return usageError{err}
	}
	if cfg.Insecure && cfg.CACerts != "" {
		return usageError{errors.New("give --insecure or --ca-certs, not both")}
	}
	if (cfg.Insecure || cfg.CACerts != "") && u.Scheme != "https" {
		return usageError{fmt.Errorf("--insecure and --ca-certs are about TLS: %s is not an https URL", u.Redacted())}
	}
	if cfg.Timeout <= 0 {
		return usageError{fmt.Errorf("--timeout %v: want a positive duration", cfg.Timeout)}
	}
	sslVerify := sslVerifyOn
	var caPEM []byte
	switch {
	case cfg.Insecure:
		sslVerify = sslVerifyOff
		fmt.Fprintf(env.Stderr, "warning: TLS certificates of %s will not be verified (--insecure)\n", u.Redacted())
	case cfg.CACerts != "":
		if caPEM, err = os.ReadFile(cfg.CACerts); err != nil {
			return fmt.Errorf("--ca-certs: %w", err)
		}
	}
	tc, err := tlsConfig(sslVerify)
	if err != nil {
		return err
	}
	if caPEM != nil {
		pool, err := caPool(caPEM)
		if err != nil {
			return usageError{fmt.Errorf("--ca-certs %s: %w", cfg.CACerts, err)}
		}
		tc = &tls.Config{RootCAs: pool}
	}
	c := &dcosClient{base: u, http: newHTTPClient(tc, cfg.Timeout)}
	info, err := c.detect(ctx)
	if err != nil {
		return err
	}
	if c.base.String() != u.String() {
		fmt.Fprintf(env.Stderr, "%s redirects to %s: using that\n", u.Redacted(), c.base.Redacted())
		if c.base.Scheme != "https" && (cfg.Insecure || cfg.CACerts != "") {
			return usageError{fmt.Errorf("--insecure and --ca-certs are about TLS: %s is not an https URL", c.base.Redacted())}
		}
		u = c.base
	}
	if cfg.Login.given() || info.AuthRequired {
		if c.token, err = logIn(ctx, c, cfg.Login, env); err != nil {
			return err
		}
	}
	id, err := c.clusterID(ctx)
	var he *httpError
	if errors.As(err, &he) && he.StatusCode == http.StatusUnauthorized && c.token == "" {
		// The probe did not ask for a login but /metadata does.
		if c.token, err = logIn(ctx, c, cfg.Login, env); err != nil {
			return err
		}
		id, err = c.clusterID(ctx)
	}
	if err != nil {
		return err
	}
	if !clusterstore.ValidID(id) {
		return fmt.Errorf("the cluster's ID %q is not usable as a directory name", id)
	}

	cl, err := store.Get(id)
	switch {
	case errors.Is(err, clusterstore.ErrNotFound):
		cl = &clusterstore.Cluster{ID: id, Config: clusterstore.NewConfig()}
	case err != nil:
		var ie *clusterstore.InsecureFileError
		if !errors.As(err, &ie) {
			return err
		}
		// Setting up again rewrites the file with mode 0600 and a new token.
		cl = &clusterstore.Cluster{ID: id, Config: clusterstore.NewConfig()}
	}
	name := cfg.Name
	if name == "" {
		name, _ = cl.Config.Get(clusterstore.KeyName)
	}
	if name == "" {
		name = c.clusterName(ctx)
	}
	if name == "" {
		name = u.Hostname()
	}
	cl.Config.Set(clusterstore.KeyURL, u.String())
	cl.Config.Set(clusterstore.KeyName, name)
	cl.Config.SetBare(clusterstore.KeyTimeout, strconv.Itoa(max(1, int(cfg.Timeout/time.Second))))
	if c.token != "" {
		cl.Config.Set(clusterstore.KeyToken, c.token)
	} else {
		cl.Config.Unset(clusterstore.KeyToken)
	}
	if caPEM != nil {
		if err := store.WriteFile(id, caFile, caPEM); err != nil {
			return err
		}
		sslVerify = filepath.Join(store.Path(id), caFile)
	}
	cl.Config.Set(clusterstore.KeySSLVerify, sslVerify)
	if err := store.Save(cl); err != nil {
		return err
	}
	if err := store.Attach(id); err != nil {
		return err
	}
	login := "no login needed"
	if c.token != "" {
		login = "logged in"
	}
	version := info.Version
	if version == "" {
		version = "unknown"
	}
	_, err = fmt.Fprintf(env.Stdout, "Cluster %s (%s, version %s) at %s: %s, attached.\n", name, id, version, u.Redacted(), login)
	return err
}

// clusterJSON is a cluster in `cluster list --json`, as dcos-cli prints it.
type clusterJSON struct {
	Name      string `json:"name"`
	ClusterID string `json:"cluster_id"`
	URL       string `json:"url"`
	Attached  bool   `json:"attached"`
}

func newClusterListCmd(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the stored clusters; * marks the attached one",
		Args:  cobra.NoArgs,
	}
	asJSON := cmd.Flags().Bool("json", false, "print the clusters as JSON")
	onlyAttached := cmd.Flags().Bool("attached", false, "list only the attached cluster")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		store, err := clusterStore(env)
		if err != nil {
			return err
		}
		all, listErr := store.List()
		rows := []clusterJSON{}
		for _, c := range all {
			if *onlyAttached && !c.Attached {
				continue
			}
			rows = append(rows, clusterJSON{Name: c.Name(), ClusterID: c.ID, URL: c.URL(), Attached: c.Attached})
		}
		if *asJSON {
			if err := printJSON(env.Stdout, rows); err != nil {
				return err
			}
			return listErr
		}
		if len(rows) == 0 && listErr == nil {
			if *onlyAttached {
				return errors.New("no cluster is attached")
			}
			_, err := fmt.Fprintln(env.Stderr, `No clusters: set one up with "basalt cluster setup <url>".`)
			return err
		}
		t := newTable(env.Stdout, "NAME", "CLUSTER ID", "URL")
		for _, r := range rows {
			name := r.Name
			if r.Attached {
				name += "*"
			}
			t.row(name, r.ClusterID, r.URL)
		}
		if err := t.flush(); err != nil {
			return err
		}
		return listErr
	}
	return cmd
}

func newClusterAttachCmd(env Env) *cobra.Command {
	return &cobra.Command{
		Use:   "attach <name|id>",
		Short: "Make a stored cluster the one client commands talk to",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			store, err := clusterStore(env)
			if err != nil {
				return err
			}
			c, err := store.Find(args[0])
			if err != nil {
				return err
			}
			if err := store.Attach(c.ID); err != nil {
				return err
			}
			_, err = fmt.Fprintf(env.Stdout, "Attached to cluster %s (%s).\n", c.Name(), c.ID)
			return err
		},
	}
}

func newClusterRemoveCmd(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "remove <name|id> | --all",
		Short: "Forget a stored cluster and its token",
		Args:  cobra.MaximumNArgs(1),
	}
	all := cmd.Flags().Bool("all", false, "remove every stored cluster")
	cmd.RunE = func(_ *cobra.Command, args []string) error {
		if *all == (len(args) == 1) {
			return usageError{errors.New("give a cluster name or ID, or --all")}
		}
		store, err := clusterStore(env)
		if err != nil {
			return err
		}
		var ids []string
		if *all {
			// Every cluster directory, also those whose cluster.toml cannot
			// be read: getting rid of them is what --all is for.
			ids, err = store.IDs()
			if err != nil {
				return err
			}
		} else {
			c, err := store.Find(args[0])
			if err != nil {
				return err
			}
			ids = []string{c.ID}
		}
		for _, id := range ids {
			if err := store.Remove(id); err != nil {
				return err
			}
			if _, err := fmt.Fprintf(env.Stdout, "Removed cluster %s.\n", id); err != nil {
				return err
			}
		}
		return nil
	}
	return cmd
}

func newClusterRenameCmd(env Env) *cobra.Command {
	return &cobra.Command{
		Use:   "rename <name|id> <new-name>",
		Short: "Rename a stored cluster (its cluster.name)",
		Args:  cobra.ExactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			store, err := clusterStore(env)
			if err != nil {
				return err
			}
			c, err := store.Find(args[0])
			if err != nil {
				return err
			}
			if args[1] == "" {
				return usageError{errors.New("the new name is empty")}
			}
			if other, err := store.Find(args[1]); err == nil && other.ID != c.ID && other.Name() == args[1] {
				return fmt.Errorf("cluster %s is already named %q", other.ID, args[1])
			}
			c.Config.Set(clusterstore.KeyName, args[1])
			if err := store.Save(c); err != nil {
				return err
			}
			_, err = fmt.Fprintf(env.Stdout, "Renamed cluster %s to %s.\n", c.ID, args[1])
			return err
		},
	}
}
