package cli

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/basalt-dcos/basalt/internal/cli/clusterstore"
)

func newAuthCmd(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "auth",
		Short: "Log in to and out of the attached cluster",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newAuthLoginCmd(env), newAuthLogoutCmd(env), newAuthListProvidersCmd(env))
	return cmd
}

func newAuthLoginCmd(env Env) *cobra.Command {
	var cfg LoginConfig
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Log in to the attached cluster again and store the new token",
		Long: `Log in to the attached cluster (POST /acs/api/v1/auth/login) and store the
token it returns in the cluster's cluster.toml. Users give --username and a
password (--password-file, --password-env, --password or a prompt); service
accounts --username and --private-key.`,
		Args: cobra.NoArgs,
	}
	load := bindFlags(cmd, env, &cfg)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := load(); err != nil {
			return err
		}
		store, cl, err := mustAttached(env)
		if err != nil {
			return err
		}
		c, err := clientFor(cl, 0)
		if err != nil {
			return err
		}
		c.token = "" // logging in needs none, and an expired one would be refused
		tok, err := logIn(cmd.Context(), c, cfg, env)
		if err != nil {
			return err
		}
		cl.Config.Set(clusterstore.KeyToken, tok)
		if err := store.Save(cl); err != nil {
			return err
		}
		_, err = fmt.Fprintf(env.Stdout, "Logged in to cluster %s.\n", cl.Name())
		return err
	}
	return cmd
}

func newAuthLogoutCmd(env Env) *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Forget the attached cluster's token",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			store, cl, err := mustAttached(env)
			if err != nil {
				return err
			}
			if !cl.Config.Unset(clusterstore.KeyToken) {
				_, err := fmt.Fprintf(env.Stdout, "Not logged in to cluster %s.\n", cl.Name())
				return err
			}
			if err := store.Save(cl); err != nil {
				return err
			}
			_, err = fmt.Fprintf(env.Stdout, "Logged out of cluster %s.\n", cl.Name())
			return err
		},
	}
}

// loginProvider is one entry of GET /acs/api/v1/auth/providers.
type loginProvider struct {
	AuthenticationType string            `json:"authentication-type"`
	ClientMethod       string            `json:"client-method"`
	Config             map[string]string `json:"config"`
	Description        string            `json:"description"`
}

// Providers a cluster without /auth/providers is assumed to have, told
// apart by the WWW-Authenticate of a 401 (as dcos-cli does).
var (
	defaultUserProvider = map[string]loginProvider{"dcos-users": {
		AuthenticationType: "dcos-uid-password",
		ClientMethod:       "dcos-usercredential-post-receive-authtoken",
		Config:             map[string]string{"start_flow_url": "/acs/api/v1/auth/login"},
		Description:        "Default DC/OS login provider",
	}}
	defaultOIDCProvider = map[string]loginProvider{"dcos-oidc-auth0": {
		AuthenticationType: "oidc-implicit-flow",
		ClientMethod:       "browser-prompt-oidcidtoken-get-authtoken",
		Config:             map[string]string{"start_flow_url": "/login?redirect_uri=urn:ietf:wg:oauth:2.0:oob"},
		Description:        "Google, GitHub, or Microsoft",
	}}
)

// authTypeDescription is how the table describes an authentication type.
var authTypeDescription = map[string]string{
	"dcos-uid-password":            "Log in with a username and password",
	"dcos-uid-password-ldap":       "Log in with an LDAP username and password",
	"dcos-uid-servicekey":          "Log in as a service account with its private key",
	"oidc-authorization-code-flow": "Log in through an OpenID Connect provider (browser)",
	"oidc-implicit-flow":           "Log in through an OpenID Connect provider (browser)",
	"saml-sp-initiated":            "Log in through a SAML provider (browser)",
}

func newAuthListProvidersCmd(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list-providers [<url>]",
		Short: "List the login providers of the attached cluster (or of <url>)",
		Args:  cobra.MaximumNArgs(1),
	}
	asJSON := cmd.Flags().Bool("json", false, "print the providers as JSON")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		var c *dcosClient
		if len(args) == 1 {
			u, err := parseClusterURL(args[0])
			if err != nil {
				return usageError{err}
			}
			c = &dcosClient{base: u, http: newHTTPClient(nil, defaultClusterTimeout)}
		} else {
			_, cl, err := mustAttached(env)
			if err != nil {
				return err
			}
			if c, err = clientFor(cl, 0); err != nil {
				return err
			}
		}
		providers := map[string]loginProvider{}
		status, err := c.do(cmd.Context(), http.MethodGet, "/acs/api/v1/auth/providers", nil, &providers)
		if status == http.StatusNotFound {
			info, derr := c.detect(cmd.Context())
			switch {
			case derr != nil:
				return derr
			case strings.EqualFold(info.Challenge, "oauthjwt"):
				providers = defaultOIDCProvider
			default:
				providers = defaultUserProvider
			}
		} else if err != nil {
			return fmt.Errorf("list login providers: %w", err)
		}
		if *asJSON {
			return printJSON(env.Stdout, providers)
		}
		ids := make([]string, 0, len(providers))
		for id := range providers {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		t := newTable(env.Stdout, "PROVIDER ID", "AUTHENTICATION TYPE")
		for _, id := range ids {
			p := providers[id]
			desc := authTypeDescription[p.AuthenticationType]
			if desc == "" {
				desc = p.AuthenticationType
			}
			t.row(id, desc)
		}
		return t.flush()
	}
	return cmd
}

// configKeys are the keys `basalt config` knows, with how to check a value.
// They are dcos-cli's names; the client commands read all of them.
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

