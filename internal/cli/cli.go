// Package cli is the basalt command tree: the server roles (master, agent,
// the single-node `up`) and the dcos-style client commands (node, service,
// task). It turns flags, environment and config files into component
// Configs, wires components together and prints results.
//
// It holds no cluster logic of its own, and it never exits the process:
// Main returns an exit code and only cmd/basalt calls os.Exit.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/basalt-dcos/basalt/internal/version"
	"github.com/basalt-dcos/basalt/pkg/marathon"
)

// Main runs the basalt command line with args (without the program name)
// and returns the process exit code. SIGINT and SIGTERM cancel the command's
// context, so servers shut down cleanly and Main returns.
func Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, args, Env{Stdout: os.Stdout, Stderr: os.Stderr, Stdin: os.Stdin, LookupEnv: os.LookupEnv})
}

// Env is what a command may touch of the outside world; tests supply their own.
type Env struct {
	Stdout, Stderr io.Writer
	Stdin          io.Reader                   // prompts (passwords); nil: none
	LookupEnv      func(string) (string, bool) // nil: no environment

	// PollInterval is how often `task log --follow` polls; 0 means 1s.
	PollInterval time.Duration
	// OnReady, if set, is called by the server commands once they serve,
	// with the base URLs they bound (tests use it instead of parsing output).
	OnReady func(urls map[string]string)
}

func (e Env) lookupEnv(k string) (string, bool) {
	if e.LookupEnv == nil {
		return "", false
	}
	return e.LookupEnv(k)
}

// Run is Main without the signal handling: it runs one command line under
// ctx and returns the exit code.
func Run(ctx context.Context, args []string, env Env) int {
	if env.Stdout == nil {
		env.Stdout = io.Discard
	}
	if env.Stderr == nil {
		env.Stderr = io.Discard
	}
	root := newRootCmd(env)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ec exitCodeError
	if errors.As(err, &ec) {
		return ec.code // task exec: the command's own exit code
	}
	fmt.Fprintf(env.Stderr, "basalt: %v\n", err)
	var ae *marathon.APIError
	if errors.As(err, &ae) && ae.StatusCode == http.StatusUnauthorized {
		fmt.Fprintln(env.Stderr, `basalt: log in with "basalt auth login" (or give --token)`)
	}
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// usageError marks an error in how the command was invoked (exit code 2).
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

func newRootCmd(env Env) *cobra.Command {
	root := &cobra.Command{
		Use:   "basalt",
		Short: "Basalt: a DC/OS-compatible datacenter operating system in one binary",
		Long: `Basalt runs a datacenter as one computer: masters hold the cluster state and
offer agents' resources to frameworks; agents run tasks in containers.

Start a single-node cluster with "basalt up", then look at it with
"basalt node list", "basalt service list" and "basalt task list".

To work with a remote cluster, "basalt cluster setup <url>" logs in to its
Admin Router and attaches it; the client commands then go through Admin
Router with the stored token.`,
		Version:       version.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.CompletionOptions.HiddenDefaultCmd = true
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.SetVersionTemplate("basalt version {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(
		newVersionCmd(env),
		newMasterCmd(env),
		newAgentCmd(env),
		newUpCmd(env),
		newNodeCmd(env),
		newServiceCmd(env),
		newTaskCmd(env),
		newMarathonCmd(env),
		newClusterCmd(env),
		newAuthCmd(env),
		newConfigCmd(env),
		newSecurityCmd(env),
		newBenchCmd(env),
	)
	return root
}

func newVersionCmd(env Env) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the basalt version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintf(env.Stdout, "basalt version %s\n", version.Version)
			return err
		},
	}
}
