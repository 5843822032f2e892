package cli

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/basalt-dcos/basalt/internal/cli/clusterstore"
)

// configKeys are the keys `basalt config` knows, with how to check a value.
// They are dcos-cli's names; the client commands read all of them.
// Read-only.
var configKeys = map[string]func(string) error{
	clusterstore.KeyURL:       checkURLValue,
	clusterstore.KeyToken:     func(string) error { return nil },
	clusterstore.KeySSLVerify: checkSSLVerify,
	clusterstore.KeyTimeout:   checkTimeout,
	clusterstore.KeyMesosURL:  checkURLValue,
	clusterstore.KeyMarathon:  checkURLValue,
	clusterstore.KeyName: func(s string) error {
		if s == "" {
			return errors.New("empty name")
		}
		return nil
	},
}

func checkURLValue(s string) error {
	u, err := parseClusterURL(s)
	if err == nil && u.String() != strings.TrimRight(s, "/") {
		return fmt.Errorf("%q: want a full URL such as %s", s, u)
	}
	return err
}

func checkSSLVerify(s string) error {
	if s == sslVerifyOn || s == sslVerifyOff {
		return nil
	}
	_, err := tlsConfig(s)
	return err
}

func checkTimeout(s string) error {
	var n int
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil || n <= 0 || fmt.Sprint(n) != s {
		return fmt.Errorf("%q: want a positive number of seconds", s)
	}
	if time.Duration(n)*time.Second <= 0 {
		return fmt.Errorf("%q: too large", s)
	}
	return nil
}

const maskedToken = "********"

func newConfigCmd(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Show and change the attached cluster's configuration (cluster.toml)",
		Long: `Show and change the attached cluster's cluster.toml, with dcos-cli's keys:
  core.dcos_url          the cluster's Admin Router URL
  core.dcos_acs_token    the login token (masked in "config show"; shown by "config show core.dcos_acs_token")
  core.ssl_verify        true, false, or the path of a PEM CA bundle
  core.timeout           seconds each HTTP request may take
  core.mesos_master_url  the Mesos master API (default <dcos_url>/mesos)
  marathon.url           the Marathon API (default <dcos_url>/service/marathon)
  cluster.name           the cluster's name in this CLI`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newConfigShowCmd(env), newConfigSetCmd(env), newConfigUnsetCmd(env))
	return cmd
}

func newConfigShowCmd(env Env) *cobra.Command {
	return &cobra.Command{
		Use:   "show [<key>]",
		Short: "Print the attached cluster's configuration, or one value",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			_, cl, err := mustAttached(env)
			if err != nil {
				return err
			}
			if len(args) == 1 {
				v, ok := cl.Config.Get(args[0])
				if !ok {
					return fmt.Errorf("%s is not set", args[0])
				}
				// The value itself, token included, so that scripts can use
				// it: curl -H "Authorization: token=$(basalt config show core.dcos_acs_token)".
				_, err := fmt.Fprintln(env.Stdout, v)
				return err
			}
			t := newTable(env.Stdout, "PROPERTY", "VALUE")
			for _, k := range cl.Config.Keys() {
				v, _ := cl.Config.Get(k)
				if k == clusterstore.KeyToken {
					v = maskedToken
				}
				t.row(k, v)
			}
			return t.flush()
		},
	}
}

func newConfigSetCmd(env Env) *cobra.Command {
	return &cobra.Command{
		Use:   "set <key> <value>",
		Short: "Set a value of the attached cluster's configuration",
		Args:  cobra.ExactArgs(2),
		RunE: func(_ *cobra.Command, args []string) error {
			key, val := args[0], args[1]
			check, ok := configKeys[key]
			if !ok {
				return usageError{fmt.Errorf("unknown key %q (see basalt config --help)", key)}
			}
			if err := check(val); err != nil {
				return usageError{fmt.Errorf("%s: %w", key, err)}
			}
			store, cl, err := mustAttached(env)
			if err != nil {
				return err
			}
			if key == clusterstore.KeyTimeout {
				cl.Config.SetBare(key, val)
			} else {
				cl.Config.Set(key, val)
			}
			if err := store.Save(cl); err != nil {
				return err
			}
			if key == clusterstore.KeySSLVerify && val == sslVerifyOff {
				fmt.Fprintf(env.Stderr, "warning: TLS certificates of cluster %s will not be verified\n", cl.Name())
			}
			shown := val
			if key == clusterstore.KeyToken {
				shown = maskedToken
			}
			_, err = fmt.Fprintf(env.Stdout, "%s = %s\n", key, shown)
			return err
		},
	}
}

func newConfigUnsetCmd(env Env) *cobra.Command {
	return &cobra.Command{
		Use:   "unset <key>",
		Short: "Remove a value from the attached cluster's configuration",
		Args:  cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if args[0] == clusterstore.KeyURL {
				return usageError{errors.New("core.dcos_url cannot be unset: remove the cluster instead")}
			}
			store, cl, err := mustAttached(env)
			if err != nil {
				return err
			}
			if !cl.Config.Unset(args[0]) {
				return fmt.Errorf("%s is not set", args[0])
			}
			if err := store.Save(cl); err != nil {
				return err
			}
			_, err = fmt.Fprintf(env.Stdout, "Removed %s.\n", args[0])
			return err
		},
	}
}
