// Command tasksh is /bin/sh of the test images dockertest builds: a static
// binary in a FROM scratch image, so tests need no registry. It interprets
// `sh -c SCRIPT [NAME [ARGS...]]` with the mvdan.cc/sh interpreter and runs
// in-process the few programs test tasks call, since the image has no
// others: touch, sleep, env, cat, id, tty, httpd PORT (an HTTP server answering
// 200 on every path, for health checks), and get URL (an HTTP GET that prints
// the body, resolving names through the container's /etc/resolv.conf with
// Go's own resolver). A trap with an empty action on TERM ignores SIGTERM, as
// a POSIX shell would.
//
// It is test support: production code must not use it.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) < 2 || args[0] != "-c" {
		fmt.Fprintln(os.Stderr, "usage: sh -c SCRIPT [NAME [ARGS...]]")
		return 2
	}
	script, name, params := args[1], "sh", []string(nil)
	if len(args) > 2 {
		name, params = args[2], args[3:]
	}
	file, err := syntax.NewParser().Parse(strings.NewReader(script), name)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sh:", err)
		return 2
	}
	r, err := interp.New(
		interp.Env(expand.ListEnviron(os.Environ()...)),
		interp.Params(append([]string{"--"}, params...)...),
		interp.StdIO(os.Stdin, os.Stdout, os.Stderr),
		interp.CallHandler(trapSignals),
		interp.ExecHandlers(programs),
	)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sh:", err)
		return 2
	}
	err = r.Run(context.Background(), file)
	var status interp.ExitStatus
	switch {
	case err == nil:
		return 0
	case errors.As(err, &status):
		return int(status)
	default:
		fmt.Fprintln(os.Stderr, "sh:", err)
		return 1
	}
}

// trapSignals handles traps with an empty action on signals (the interpreter only
// knows EXIT and ERR): the signals are ignored, as in a POSIX shell.
func trapSignals(_ context.Context, args []string) ([]string, error) {
	if len(args) < 3 || args[0] != "trap" || args[1] != "" {
		return args, nil
	}
	var rest []string
	for _, s := range args[2:] {
		switch strings.TrimPrefix(s, "SIG") {
		case "TERM", "15":
			signal.Ignore(syscall.SIGTERM)
		case "INT", "2":
			signal.Ignore(syscall.SIGINT)
		case "HUP", "1":
			signal.Ignore(syscall.SIGHUP)
		default:
			rest = append(rest, s)
		}
	}
	if len(rest) == 0 {
		return []string{"true"}, nil
	}
	return append([]string{"trap", ""}, rest...), nil
}

// programs runs the utilities of a test task in-process.
func programs(next interp.ExecHandlerFunc) interp.ExecHandlerFunc {
	return func(ctx context.Context, args []string) error {
		hc := interp.HandlerCtx(ctx)
		fail := func(format string, a ...any) error {
			fmt.Fprintf(hc.Stderr, args[0]+": "+format+"\n", a...)
			return interp.ExitStatus(1)
		}
		abs := func(p string) string {
			if strings.HasPrefix(p, "/") {
				return p
			}
			return hc.Dir + "/" + p
		}
		switch args[0] {
		case "touch":
			for _, p := range args[1:] {
				f, err := os.OpenFile(abs(p), os.O_WRONLY|os.O_CREATE, 0o644)
				if err != nil {
					return fail("%v", err)
				}
				f.Close()
				now := time.Now()
				_ = os.Chtimes(abs(p), now, now)
			}
			return nil
		case "sleep":
			if len(args) != 2 {
				return fail("usage: sleep SECONDS")
			}
			secs, err := strconv.ParseFloat(args[1], 64)
			if err != nil || secs < 0 {
				return fail("invalid time %q", args[1])
			}
			t := time.NewTimer(time.Duration(secs * float64(time.Second)))
			defer t.Stop()
			select {
			case <-t.C:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		case "env":
			hc.Env.Each(func(name string, vr expand.Variable) bool {
				if vr.Exported && vr.IsSet() {
					fmt.Fprintf(hc.Stdout, "%s=%s\n", name, vr.String())
				}
				return true
			})
			return nil
		case "id":
			fmt.Fprintf(hc.Stdout, "uid=%d gid=%d\n", os.Getuid(), os.Getgid())
			return nil
		case "tty":
			if f, ok := hc.Stdin.(*os.File); ok {
				if p, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd()))); err == nil && strings.HasPrefix(p, "/dev/pts/") {
					fmt.Fprintln(hc.Stdout, p)
					return nil
				}
			}
			fmt.Fprintln(hc.Stdout, "not a tty")
			return interp.ExitStatus(1)
		case "cat":
			if len(args) == 1 && hc.Stdin != nil {
				if _, err := io.Copy(hc.Stdout, hc.Stdin); err != nil {
					return fail("%v", err)
				}
			}
			for _, p := range args[1:] {
				f, err := os.Open(abs(p))
				if err != nil {
					return fail("%v", err)
				}
				_, err = io.Copy(hc.Stdout, f)
				f.Close()
				if err != nil {
					return fail("%v", err)
				}
			}
			return nil
		case "httpd":
			if len(args) != 2 {
				return fail("usage: httpd PORT")
			}
			fmt.Fprintf(hc.Stdout, "listening on :%s\n", args[1])
			srv := &http.Server{
				Addr:              ":" + args[1],
				ReadHeaderTimeout: 10 * time.Second,
				Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					fmt.Fprintf(w, "ok %s\n", r.URL.Path)
				}),
			}
			return fail("%v", srv.ListenAndServe())
		case "get":
			if len(args) != 2 {
				return fail("usage: get URL")
			}
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			req, err := http.NewRequestWithContext(rctx, http.MethodGet, args[1], nil)
			if err != nil {
				return fail("%v", err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return fail("%v", err)
			}
			defer resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				return fail("%s: %s", args[1], resp.Status)
			}
			if _, err := io.Copy(hc.Stdout, resp.Body); err != nil {
				return fail("%v", err)
			}
			return nil
		}
		return next(ctx, args)
	}
}
