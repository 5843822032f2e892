package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"
)

// LoginConfig holds the credentials of `cluster setup` and `auth login`,
// with dcos-cli's flag names. A user logs in with a username and a password
// (from exactly one of --password, --password-file, --password-env or a
// prompt without echo); a service account with a username and its private
// key.
type LoginConfig struct {
	Username     string `flag:"username" help:"the user or service account to log in as (prompted for on a terminal when the cluster needs a login)"`
	Password     string `flag:"password" help:"the password; other users of this host can see it in the process list, so prefer --password-file, --password-env or the prompt"`
	PasswordFile string `flag:"password-file" help:"read the password from this file (its first line)"`
	PasswordEnv  string `flag:"password-env" help:"read the password from this environment variable"`
	PrivateKey   string `flag:"private-key" help:"PEM file with a service account's RSA private key: log in as that service account (name it with --username)"`
}

// given reports whether any credential was given.
func (l LoginConfig) given() bool {
	return l.Username != "" || l.Password != "" || l.PasswordFile != "" || l.PasswordEnv != "" || l.PrivateKey != ""
}

// request builds the login request, prompting on a terminal for what is
// missing. now dates the service login token.
func (l LoginConfig) request(env Env, now time.Time) (loginRequest, error) {
	var sources []string
	for _, s := range [][2]string{{"--password", l.Password}, {"--password-file", l.PasswordFile}, {"--password-env", l.PasswordEnv}, {"--private-key", l.PrivateKey}} {
		if s[1] != "" {
			sources = append(sources, s[0])
		}
	}
	if len(sources) > 1 {
		return loginRequest{}, usageError{fmt.Errorf("give only one of %s", strings.Join(sources, ", "))}
	}
	uid := l.Username
	if l.PrivateKey != "" {
		if uid == "" {
			return loginRequest{}, usageError{errors.New("--private-key needs --username, the service account's ID")}
		}
		pem, err := os.ReadFile(l.PrivateKey)
		if err != nil {
			return loginRequest{}, fmt.Errorf("--private-key: %w", err)
		}
		tok, err := signServiceLogin(uid, pem, now)
		if err != nil {
			return loginRequest{}, fmt.Errorf("--private-key %s: %w", l.PrivateKey, err)
		}
		return loginRequest{UID: uid, Token: tok}, nil
	}
	in := newPrompter(env)
	if uid == "" {
		u, err := in.line("Username: ")
		if err != nil {
			return loginRequest{}, err
		}
		uid = u
	}
	if uid == "" {
		return loginRequest{}, usageError{errors.New("no username given")}
	}
	var pw string
	switch {
	case l.Password != "":
		pw = l.Password
	case l.PasswordFile != "":
		b, err := os.ReadFile(l.PasswordFile)
		if err != nil {
			return loginRequest{}, fmt.Errorf("--password-file: %w", err)
		}
		pw, _, _ = strings.Cut(string(b), "\n")
		pw = strings.TrimSuffix(pw, "\r")
	case l.PasswordEnv != "":
		v, ok := env.lookupEnv(l.PasswordEnv)
		if !ok {
			return loginRequest{}, usageError{fmt.Errorf("--password-env %s: the variable is not set", l.PasswordEnv)}
		}
		pw = v
	default:
		p, err := in.secret(fmt.Sprintf("Password for %s: ", uid))
		if err != nil {
			return loginRequest{}, err
		}
		pw = p
	}
	if pw == "" {
		return loginRequest{}, usageError{errors.New("empty password")}
	}
	return loginRequest{UID: uid, Password: pw}, nil
}

// prompter asks the user on a terminal; without one it explains which
// flag to give instead of waiting on a pipe.
type prompter struct {
	in  io.Reader
	out io.Writer
	fd  int // -1: not a terminal
}

func newPrompter(env Env) *prompter {
	p := &prompter{in: env.Stdin, out: env.Stderr, fd: -1}
	if f, ok := env.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.fd = int(f.Fd())
	}
	return p
}

var errNoTerminal = errors.New("no terminal to ask on: give --username with --password-file or --password-env (or --private-key for a service account)")

func (p *prompter) line(prompt string) (string, error) {
	if p.fd < 0 {
		return "", usageError{errNoTerminal}
	}
	fmt.Fprint(p.out, prompt)
	// Byte by byte: a buffered reader could swallow what comes after the
	// line, which the password prompt reads from the descriptor itself.
	var b strings.Builder
	buf := make([]byte, 1)
	for b.Len() < 1024 {
		n, err := p.in.Read(buf)
		if n == 1 {
			if buf[0] == '\n' {
				break
			}
			b.WriteByte(buf[0])
		}
		if err != nil {
			if b.Len() == 0 {
				return "", fmt.Errorf("read %s: %w", strings.TrimSuffix(prompt, ": "), err)
			}
			break
		}
	}
	return strings.TrimSpace(b.String()), nil
}

func (p *prompter) secret(prompt string) (string, error) {
	if p.fd < 0 {
		return "", usageError{errNoTerminal}
	}
	fmt.Fprint(p.out, prompt)
	b, err := term.ReadPassword(p.fd)
	fmt.Fprintln(p.out)
	if err != nil {
		return "", fmt.Errorf("read the password: %w", err)
	}
	return string(b), nil
}

// logIn logs in to the cluster c with the credentials of l.
func logIn(ctx context.Context, c *dcosClient, l LoginConfig, env Env) (string, error) {
	req, err := l.request(env, time.Now())
	if err != nil {
		return "", err
	}
	return c.login(ctx, req)
}
