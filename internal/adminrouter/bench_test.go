package adminrouter

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/iam"
	"github.com/basalt-dcos/basalt/internal/store/storetest"
)

// BenchmarkProxy measures Admin Router's overhead on small keep-alive GETs:
// the same upstream (a Go HTTP server answering 64 bytes) asked directly
// and through the router's /mesos/ route, one client at a time (latency)
// and with 16 concurrent clients (throughput). It reports req/s, the
// p50/p99 latency and the process CPU time per request of each; the
// overhead is the difference between the direct and adminrouter lines of
// one run.
//
//	go test -run XXX -bench BenchmarkProxy -benchtime 5s ./internal/adminrouter/
func BenchmarkProxy(b *testing.B) {
	body := append([]byte(`{"ok":true,"padding":"`), bytes.Repeat([]byte("x"), 64-26)...)
	body = append(body, "\"}\n"...)
	upLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	upSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = upSrv.Serve(upLn) }()
	defer upSrv.Close()
	upURL := "http://" + upLn.Addr().String()

	r, err := New(DefaultConfig(), Deps{Upstreams: &upstreams{mesos: []string{upURL}}, Cluster: cluster{}})
	if err != nil {
		b.Fatal(err)
	}
	arLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx, arLn) }()
	defer func() { cancel(); <-done }()
	arURL := "http://" + arLn.Addr().String() + "/mesos/master/state"
	// The same router in strict security with the real IAM: each request
	// carries a token that is verified and checked against the route's
	// permission (dcos:superuser here).
	strictURL, token := startStrictRouter(b, upURL)
	// nginx, the proxy DC/OS's Admin Router is built on, with the same
	// route, when it is installed (apt-get install nginx-light=1.22.1-9+deb12u12).
	nginxURL, stopNginx, nginxErr := startNginx(upLn.Addr().String())
	if nginxErr == nil {
		defer stopNginx()
		nginxURL += "/mesos/master/state"
	}

	for _, mode := range []struct {
		name    string
		clients int
	}{{"serial", 1}, {"parallel16", 16}} {
		for _, target := range []struct{ name, url string }{{"direct", upURL + "/master/state"}, {"adminrouter", arURL}, {"adminrouter-strict", strictURL}, {"nginx", nginxURL}} {
			b.Run(mode.name+"/"+target.name, func(b *testing.B) {
				if target.name == "nginx" && nginxErr != nil {
					b.Skipf("no nginx to compare with: %v", nginxErr)
				}
				tr := &http.Transport{MaxIdleConnsPerHost: 64}
				defer tr.CloseIdleConnections()
				client := &http.Client{Transport: tr}
				get := func() time.Duration {
					start := time.Now()
					req, _ := http.NewRequest(http.MethodGet, target.url, nil)
					if target.name == "adminrouter-strict" {
						req.Header.Set("Authorization", "token="+token)
					}
					resp, err := client.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Fatalf("status %d", resp.StatusCode)
					}
					return time.Since(start)
				}
				get() // warm the connection
				var mu sync.Mutex
				var lat []time.Duration
				b.ResetTimer()
				cpu0 := processCPU()
				start := time.Now()
				var wg sync.WaitGroup
				per := b.N / mode.clients
				for c := 0; c < mode.clients; c++ {
					n := per
					if c == 0 {
						n += b.N % mode.clients
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						mine := make([]time.Duration, 0, n)
						for range n {
							mine = append(mine, get())
						}
						mu.Lock()
						lat = append(lat, mine...)
						mu.Unlock()
					}()
				}
				wg.Wait()
				elapsed := time.Since(start)
				cpu := processCPU() - cpu0
				b.StopTimer()
				slices.Sort(lat)
				if len(lat) > 0 {
					b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "req/s")
					b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
					b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
					// Client, router and upstream together: the router's own
					// cost is the difference from the direct line (nginx's
					// own CPU is in its processes, not counted here).
					b.ReportMetric(float64(cpu.Nanoseconds())/float64(len(lat)), "cpu-ns/op")
				}
			})
		}
	}
}

// startStrictRouter serves a router in strict mode over a real IAM on an
// embedded store, and returns its /mesos/ URL and a superuser's token.
func startStrictRouter(b *testing.B, upURL string) (string, string) {
	st := storetest.Open(b)
	auth, err := iam.New(context.Background(), iam.Config{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(auth.Close)
	if _, err := auth.EnsureSuperuser(context.Background(), "bench", "Bench-Password-1"); err != nil {
		b.Fatal(err)
	}
	token, err := auth.IssueToken("bench")
	if err != nil {
		b.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Security = iam.ModeStrict
	addr := serveRouter(b, cfg, Deps{Upstreams: &upstreams{mesos: []string{upURL}}, Cluster: cluster{}, Auth: auth})
	return "http://" + addr + "/mesos/master/state", token
}

// processCPU is this process's user+system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startNginx runs nginx as a reverse proxy of upstream at /mesos/, the way
// DC/OS's Admin Router proxies the leading master: HTTP/1.1 keep-alive to
// the upstream, one worker per core, no access log. It returns nginx's
// base URL and a function that stops it.
func startNginx(upstream string) (string, func(), error) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp("", "nginx-bench")
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	addr := ln.Addr().String()
	ln.Close() // nginx binds it next; a benchmark can live with the race
	conf := fmt.Sprintf(`daemon off;
worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	upstream leader { server %[2]s; keepalive 64; }
	server {
		listen %[3]s;
		location /mesos/ {
			proxy_pass http://leader/;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
		}
	}
}
`, dir, upstream, addr)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "-c", path, "-p", dir)
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		os.RemoveAll(dir)
	}
	for range 100 { // until it listens
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return "http://" + addr, stop, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	return "", nil, fmt.Errorf("nginx did not listen on %s", addr)
}
