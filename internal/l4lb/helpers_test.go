package l4lb

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// serveIdentity answers every connection on ln with id and a newline, then
// echoes what it reads, until ln is closed.
func serveIdentity(t *testing.T, ln net.Listener, id string) {
	t.Helper()
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if _, err := io.WriteString(c, id+"\n"); err != nil {
					return
				}
				io.Copy(c, c)
			}()
		}
	}()
}

// identityConn is a client connection that has read the backend's identity.
type identityConn struct {
	net.Conn
	r  *bufio.Reader
	id string
}

func openIdentity(c net.Conn) (*identityConn, error) {
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		c.Close()
		return nil, err
	}
	return &identityConn{Conn: c, r: r, id: strings.TrimSpace(line)}, nil
}

// echo sends msg and checks it comes back.
func (c *identityConn) echo(t *testing.T, msg string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, msg+"\n"); err != nil {
		t.Fatalf("write to %s: %v", c.id, err)
	}
	line, err := c.r.ReadString('\n')
	if err != nil || strings.TrimSpace(line) != msg {
		t.Fatalf("echo via %s: got %q, %v; want %q", c.id, line, err, msg)
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not a wait for a condition
	}
}
