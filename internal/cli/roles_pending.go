//go:build !basalt_roles

package cli

// TODO(lead): placeholders until internal/master and internal/agent compile;
// roles.go holds the real commands behind the basalt_roles build tag. Delete
// this file and the tag together.

import (
	"errors"

	"github.com/spf13/cobra"
)

func pending(use, short string) *cobra.Command {
	return &cobra.Command{Use: use, Short: short + " (not wired into this build yet)",
		RunE: func(*cobra.Command, []string) error {
			return errors.New("basalt " + use + ": not wired into this build yet (internal/cli/roles.go)")
		}}
}

func newMasterCmd(Env) *cobra.Command { return pending("master", "Run a master") }
func newAgentCmd(Env) *cobra.Command  { return pending("agent", "Run an agent") }
func newUpCmd(Env) *cobra.Command     { return pending("up", "Run a single-node cluster") }
