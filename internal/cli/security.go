package cli

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"time"

	"github.com/spf13/cobra"
)

// `basalt security org ...` manages IAM's users, groups and service
// accounts through Admin Router's /acs/api/v1, with the attached cluster's
// token, like the dcos-enterprise-cli's "dcos security org".

func newSecurityCmd(env Env) *cobra.Command {
	sec := &cobra.Command{Use: "security", Short: "Manage the identity and access of the attached cluster", Args: cobra.NoArgs}
	org := &cobra.Command{Use: "org", Short: "Manage users, groups and service accounts (/acs/api/v1)", Args: cobra.NoArgs}
	users := &cobra.Command{Use: "users", Short: "List, create and delete users", Args: cobra.NoArgs}
	users.AddCommand(newIAMListCmd(env, "list", "List the users", "/acs/api/v1/users", false),
		newUserCreateCmd(env), newIAMDeleteCmd(env, "user", "/acs/api/v1/users/"),
		newGrantCmd(env, "users", "user or service account", true), newGrantCmd(env, "users", "user or service account", false))
	groups := &cobra.Command{Use: "groups", Short: "List, create and delete groups and add users to them", Args: cobra.NoArgs}
	groups.AddCommand(newIAMListCmd(env, "list", "List the groups", "/acs/api/v1/groups", true),
		newGroupCreateCmd(env), newIAMDeleteCmd(env, "group", "/acs/api/v1/groups/"), newGroupAddUserCmd(env),
		newGrantCmd(env, "groups", "group", true), newGrantCmd(env, "groups", "group", false))
	sas := &cobra.Command{Use: "service-accounts", Short: "List, create and delete service accounts and make their key pairs", Args: cobra.NoArgs}
	sas.AddCommand(newIAMListCmd(env, "list", "List the service accounts", "/acs/api/v1/users?type=service", false),
		newServiceAccountCreateCmd(env), newIAMDeleteCmd(env, "service account", "/acs/api/v1/users/"), newKeypairCmd(env))
	org.AddCommand(users, groups, sas)
	sec.AddCommand(org, newJoinTokenCmd(env))
	return sec
}

// iamClient is the attached cluster's client, token included.
func iamClient(env Env) (*dcosClient, error) {
	_, cl, err := mustAttached(env)
	if err != nil {
		return nil, err
	}
	return clientFor(cl, 0)
}

// iamEntry is a user, service account or group in IAM's {"array": [...]}.
type iamEntry struct {
	UID          string `json:"uid,omitempty"`
	GID          string `json:"gid,omitempty"`
	Description  string `json:"description"`
	URL          string `json:"url,omitempty"`
	IsRemote     *bool  `json:"is_remote,omitempty"`
	IsService    *bool  `json:"is_service,omitempty"`
	ProviderType string `json:"provider_type,omitempty"`
	ProviderID   string `json:"provider_id,omitempty"`
	PublicKey    string `json:"public_key,omitempty"`
}

func newIAMListCmd(env Env, use, short, path string, groups bool) *cobra.Command {
	cmd := &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs}
	asJSON := cmd.Flags().Bool("json", false, "print the API's JSON array")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := iamClient(env)
		if err != nil {
			return err
		}
		var list struct {
			Array []iamEntry `json:"array"`
		}
		if _, err := c.do(cmd.Context(), http.MethodGet, path, nil, &list); err != nil {
			return err
		}
		sort.Slice(list.Array, func(i, j int) bool { return list.Array[i].UID+list.Array[i].GID < list.Array[j].UID+list.Array[j].GID })
		if *asJSON {
			if list.Array == nil {
				list.Array = []iamEntry{}
			}
			return printJSON(env.Stdout, list.Array)
		}
		if groups {
			t := newTable(env.Stdout, "GID", "DESCRIPTION")
			for _, e := range list.Array {
				t.row(e.GID, e.Description)
			}
			return t.flush()
		}
		t := newTable(env.Stdout, "UID", "DESCRIPTION", "PROVIDER")
		for _, e := range list.Array {
			t.row(e.UID, e.Description, e.ProviderType)
		}
		return t.flush()
	}
	return cmd
}

func newIAMDeleteCmd(env Env, what, prefix string) *cobra.Command {
	return &cobra.Command{
		Use:   "delete <id>",
		Short: "Delete a " + what,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := iamClient(env)
			if err != nil {
				return err
			}
			if _, err := c.do(cmd.Context(), http.MethodDelete, prefix+url.PathEscape(args[0]), nil, nil); err != nil {
				return fmt.Errorf("delete %s %s: %w", what, args[0], err)
			}
			_, err = fmt.Fprintf(env.Stdout, "Deleted %s %s.\n", what, args[0])
			return err
		},
	}
}

// putNew PUTs body to create something; 409 says it exists.
func putNew(cmd *cobra.Command, env Env, what, id, path string, body any) error {
	c, err := iamClient(env)
	if err != nil {
		return err
	}
	status, err := c.do(cmd.Context(), http.MethodPut, path, body, nil)
	if status == http.StatusConflict {
		return fmt.Errorf("%s %s already exists", what, id)
	}
	if err != nil {
		return fmt.Errorf("create %s %s: %w", what, id, err)
	}
	_, err = fmt.Fprintf(env.Stdout, "Created %s %s.\n", what, id)
	return err
}

func newUserCreateCmd(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create <uid>",
		Short: "Create a user with a password (PUT /acs/api/v1/users/<uid>)",
		Args:  cobra.ExactArgs(1),
	}
	desc := cmd.Flags().String("description", "", "the user's description (default: the uid)")
	password := cmd.Flags().String("password", "", "the password; visible in the process list, prefer --password-file, --password-env or the prompt")
	passwordFile := cmd.Flags().String("password-file", "", "read the password from this file (its first line)")
	passwordEnv := cmd.Flags().String("password-env", "", "read the password from this environment variable")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		// The password sources are those of a login; reuse their rules.
		req, err := LoginConfig{Username: args[0], Password: *password, PasswordFile: *passwordFile, PasswordEnv: *passwordEnv}.request(env, time.Now())
		if err != nil {
			return err
		}
		d := *desc
		if d == "" {
			d = args[0]
		}
		return putNew(cmd, env, "user", args[0], "/acs/api/v1/users/"+url.PathEscape(args[0]),
			map[string]string{"description": d, "password": req.Password})
	}
	return cmd
}

func newServiceAccountCreateCmd(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create <uid> --public-key <file>",
		Short: "Create a service account with an RSA public key (PUT /acs/api/v1/users/<uid>)",
		Args:  cobra.ExactArgs(1),
	}
	desc := cmd.Flags().String("description", "", "the service account's description (default: the uid)")
	pubFile := cmd.Flags().String("public-key", "", "PEM file with the account's RSA public key (see service-accounts keypair)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if *pubFile == "" {
			return usageError{errors.New("--public-key is required")}
		}
		data, err := os.ReadFile(*pubFile)
		if err != nil {
			return fmt.Errorf("--public-key: %w", err)
		}
		if err := checkRSAPublicKey(data); err != nil {
			return usageError{fmt.Errorf("--public-key %s: %w", *pubFile, err)}
		}
		d := *desc
		if d == "" {
			d = args[0]
		}
		return putNew(cmd, env, "service account", args[0], "/acs/api/v1/users/"+url.PathEscape(args[0]),
			map[string]string{"description": d, "public_key": string(data)})
	}
	return cmd
}

// checkRSAPublicKey accepts a PEM "PUBLIC KEY" (PKIX) or "RSA PUBLIC KEY"
// (PKCS#1) block holding an RSA key.
func checkRSAPublicKey(data []byte) error {
	block, _ := pem.Decode(data)
	if block == nil {
		return errors.New("no PEM block")
	}
	switch block.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return err
		}
		if _, ok := k.(*rsa.PublicKey); !ok {
			return fmt.Errorf("a %T, want an RSA key", k)
		}
		return nil
	case "RSA PUBLIC KEY":
		_, err := x509.ParsePKCS1PublicKey(block.Bytes)
		return err
	}
	return fmt.Errorf("a PEM %q block, want a PUBLIC KEY", block.Type)
}

func newGroupCreateCmd(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create <gid>",
		Short: "Create a group (PUT /acs/api/v1/groups/<gid>)",
		Args:  cobra.ExactArgs(1),
	}
	desc := cmd.Flags().String("description", "", "the group's description (default: the gid)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		d := *desc
		if d == "" {
			d = args[0]
		}
		return putNew(cmd, env, "group", args[0], "/acs/api/v1/groups/"+url.PathEscape(args[0]), map[string]string{"description": d})
	}
	return cmd
}

func newGroupAddUserCmd(env Env) *cobra.Command {
	return &cobra.Command{
		Use:   "add_user <gid> <uid>",
		Short: "Add a user or service account to a group (PUT /acs/api/v1/groups/<gid>/users/<uid>)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := iamClient(env)
			if err != nil {
				return err
			}
			path := "/acs/api/v1/groups/" + url.PathEscape(args[0]) + "/users/" + url.PathEscape(args[1])
			status, err := c.do(cmd.Context(), http.MethodPut, path, nil, nil)
			if status == http.StatusConflict {
				_, err := fmt.Fprintf(env.Stdout, "%s is already in group %s.\n", args[1], args[0])
				return err
			}
			if err != nil {
				return fmt.Errorf("add %s to group %s: %w", args[1], args[0], err)
			}
			_, err = fmt.Fprintf(env.Stdout, "Added %s to group %s.\n", args[1], args[0])
			return err
		},
	}
}

// newGrantCmd is `users|groups grant <id> <rid> [<action>]` (PUT
// /acls/<rid>/<kind>/<id>/<action>, creating the ACL first when it does not
// exist, as dcos-enterprise-cli does) or `revoke` (DELETE of the same).
func newGrantCmd(env Env, kind, what string, grant bool) *cobra.Command {
	verb, short := "revoke", "Take a permission from a "+what
	if grant {
		verb, short = "grant", "Give a "+what+" a permission, e.g. dcos:adminrouter:ops:mesos full"
	}
	return &cobra.Command{
		Use:   verb + " <id> <rid> [<action>]",
		Short: short + " (action: create, read, update, delete or full; default full)",
		Args:  cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, rid, action := args[0], args[1], "full"
			if len(args) == 3 {
				action = args[2]
			}
			switch action {
			case "create", "read", "update", "delete", "full":
			default:
				return usageError{fmt.Errorf("action %q: want create, read, update, delete or full", action)}
			}
			c, err := iamClient(env)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			acl := "/acs/api/v1/acls/" + url.PathEscape(rid)
			path := acl + "/" + kind + "/" + url.PathEscape(id) + "/" + action
			if !grant {
				if _, err := c.do(ctx, http.MethodDelete, path, nil, nil); err != nil {
					return fmt.Errorf("revoke %s %s from %s: %w", rid, action, id, err)
				}
				_, err = fmt.Fprintf(env.Stdout, "Revoked %s %s from %s.\n", rid, action, id)
				return err
			}
			status, err := c.do(ctx, http.MethodPut, acl, map[string]string{"description": "created by basalt security org " + kind + " grant"}, nil)
			if err != nil && status != http.StatusConflict {
				return fmt.Errorf("create the ACL %s: %w", rid, err)
			}
			if _, err := c.do(ctx, http.MethodPut, path, nil, nil); err != nil {
				return fmt.Errorf("grant %s %s to %s: %w", rid, action, id, err)
			}
			_, err = fmt.Fprintf(env.Stdout, "Granted %s %s to %s.\n", rid, action, id)
			return err
		},
	}
}

func newKeypairCmd(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keypair <private-key.pem> <public-key.pem>",
		Short: "Make an RSA key pair for a service account (PKCS#8 private key, mode 0600; PKIX public key)",
		Args:  cobra.ExactArgs(2),
	}
	bits := cmd.Flags().Int("bits", 2048, "key size in bits (2048 or more)")
	cmd.RunE = func(_ *cobra.Command, args []string) error {
		if *bits < 2048 {
			return usageError{fmt.Errorf("--bits %d: want 2048 or more", *bits)}
		}
		priv, pub, err := rsaKeyPair(*bits)
		if err != nil {
			return err
		}
		if err := writeNewFile(args[0], priv, 0o600); err != nil {
			return err
		}
		if err := writeNewFile(args[1], pub, 0o644); err != nil {
			os.Remove(args[0]) // no half pair left behind
			return err
		}
		_, err = fmt.Fprintf(env.Stdout, "Wrote the private key to %s and the public key to %s.\n", args[0], args[1])
		return err
	}
	return cmd
}

// writeNewFile creates path with mode and data; an existing file is an
// error, so a key someone may still use is never overwritten.
func writeNewFile(path string, data []byte, mode os.FileMode) error {
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	if _, err := fh.Write(data); err != nil {
		fh.Close()
		os.Remove(path)
		return fmt.Errorf("write key %s: %w", path, err)
	}
	if err := fh.Close(); err != nil {
		os.Remove(path)
		return fmt.Errorf("write key %s: %w", path, err)
	}
	return nil
}

// rsaKeyPair returns a new RSA key as PEM: PKCS#8 "PRIVATE KEY" and PKIX
// "PUBLIC KEY".
func rsaKeyPair(bits int) (priv, pub []byte, err error) {
	key, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, nil, fmt.Errorf("generate an RSA key of %s bits: %w", strconv.Itoa(bits), err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), nil
}
