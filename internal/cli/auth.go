package cli

import (
	"fmt"
	"net/http"
	"sort"
	"strings"

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
// apart by the WWW-Authenticate of a 401 (as dcos-cli does). Read-only.
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

// authTypeDescription is how the table describes an authentication type
// (read-only).
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
