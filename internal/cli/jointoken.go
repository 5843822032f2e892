package cli

import (
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"
)

// `basalt security join-token show|rotate` reads and rotates the cluster's
// node join token through Admin Router (superuser only; see docs/tls.md).

func newJoinTokenCmd(env Env) *cobra.Command {
	jt := &cobra.Command{Use: "join-token", Short: "Show or rotate the token with which agents join the cluster", Args: cobra.NoArgs}
	show := &cobra.Command{Use: "show", Short: "Print the current join token (it lets a node join: keep it secret)", Args: cobra.NoArgs}
	show.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := iamClient(env)
		if err != nil {
			return err
		}
		var out struct {
			Token string `json:"token"`
		}
		if _, err := c.do(cmd.Context(), http.MethodGet, "/basalt/v1/join-token", nil, &out); err != nil {
			return err
		}
		fmt.Fprintln(env.Stdout, out.Token)
		return nil
	}
	rotate := &cobra.Command{Use: "rotate", Short: "Replace the join secret; the old token keeps working for --grace, joined nodes are not affected", Args: cobra.NoArgs}
	grace := rotate.Flags().Duration("grace", 10*time.Minute, "how long the old token still lets nodes join (0: refused at once)")
	rotate.RunE = func(cmd *cobra.Command, _ []string) error {
		if *grace < 0 {
			return fmt.Errorf("--grace must not be negative")
		}
		c, err := iamClient(env)
		if err != nil {
			return err
		}
		var out struct {
			Token string `json:"token"`
			Until string `json:"previous_valid_until"`
		}
		secs := int64(*grace / time.Second)
		if _, err := c.do(cmd.Context(), http.MethodPost, "/basalt/v1/join-token/rotate", map[string]int64{"grace_seconds": secs}, &out); err != nil {
			return err
		}
		fmt.Fprintln(env.Stdout, out.Token)
		fmt.Fprintf(env.Stderr, "the previous token joins until %s\n", out.Until)
		return nil
	}
	jt.AddCommand(show, rotate)
	return jt
}

// newNodeRevokeCmd is `basalt node revoke <agent-id|serial>` (superuser,
// through Admin Router).
func newNodeRevokeCmd(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "revoke <agent-id|serial>",
		Short: "Revoke an agent's certificates (it is cut off and joins again only with a rotated join token) or one certificate by serial (hex)",
		Args:  cobra.ExactArgs(1),
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := iamClient(env)
		if err != nil {
			return err
		}
		var out struct {
			Revoked string `json:"revoked"`
		}
		if _, err := c.do(cmd.Context(), http.MethodPost, "/basalt/v1/nodes/revoke", map[string]string{"id": args[0]}, &out); err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "revoked %s\n", out.Revoked)
		return nil
	}
	return cmd
}
