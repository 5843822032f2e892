package store_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/basalt-dcos/basalt/internal/store"
	"github.com/basalt-dcos/basalt/internal/store/storetest"
)

// revisionSpan runs f and returns how many etcd revisions (write transactions) it took.
func revisionSpan(b *testing.B, s *store.Store, f func()) int64 {
	b.Helper()
	_, r0, err := s.ListWithRevision(b.Context(), "nothing/")
	if err != nil {
		b.Fatal(err)
	}
	f()
	_, r1, err := s.ListWithRevision(b.Context(), "nothing/")
	if err != nil {
		b.Fatal(err)
	}
	return r1 - r0
}

func reportThroughput(b *testing.B, keys, txns int64) {
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(keys)/sec, "keys/s")
	b.ReportMetric(float64(txns)/sec, "txn/s")
	b.ReportMetric(float64(keys)/float64(max(txns, 1)), "keys/txn")
}

// BenchmarkApplySerial: one caller, one key per Apply: one fsync'd transaction each.
func BenchmarkApplySerial(b *testing.B) {
	s := storetest.Open(b)
	ctx := b.Context()
	val := make([]byte, 256)
	var n int64
	txns := revisionSpan(b, s, func() {
		b.ResetTimer()
		for b.Loop() {
			if err := s.Apply(ctx, store.Put(fmt.Sprintf("bench/serial/%d", n), val)); err != nil {
				b.Fatal(err)
			}
			n++
		}
		b.StopTimer()
	})
	reportThroughput(b, n, txns)
}

// BenchmarkApplySerialBatch100: one caller, 100 keys per Apply.
func BenchmarkApplySerialBatch100(b *testing.B) {
	s := storetest.Open(b)
	ctx := b.Context()
	val := make([]byte, 256)
	var n int64
	txns := revisionSpan(b, s, func() {
		b.ResetTimer()
		for b.Loop() {
			ops := make([]store.Op, 100)
			for i := range ops {
				ops[i] = store.Put(fmt.Sprintf("bench/batch/%d", n), val)
				n++
			}
			if err := s.Apply(ctx, ops...); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
	})
	reportThroughput(b, n, txns)
}

// BenchmarkApplyConcurrent: many callers, one key per Apply each: group commit coalesces
// them into shared transactions.
func BenchmarkApplyConcurrent(b *testing.B) {
	for _, callers := range []int{16, 128} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			s := storetest.Open(b)
			ctx := b.Context()
			val := make([]byte, 256)
			var n atomic.Int64
			txns := revisionSpan(b, s, func() {
				b.SetParallelism(max(1, callers/2)) // ×GOMAXPROCS (2)
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						k := n.Add(1)
						if err := s.Apply(ctx, store.Put(fmt.Sprintf("bench/conc/%d", k), val)); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.StopTimer()
			})
			reportThroughput(b, n.Load(), txns)
		})
	}
}

// BenchmarkElectionFailover: 3 members in-process, one candidate per member; kill (Abort)
// the leader's member and time until another candidate's leader function runs. Runs 10
// trials per iteration; run with -benchtime=1x. Reports p50 and max in ms, and how many
// leaderships ended other than by the kill (spurious demotions: a too-short TTL).
func BenchmarkElectionFailover(b *testing.B) {
	for _, ttl := range []time.Duration{time.Second, 2 * time.Second} {
		b.Run(fmt.Sprintf("ttl=%v", ttl), func(b *testing.B) {
			for b.Loop() {
				failoverTrials(b, ttl, 10)
			}
		})
	}
}

func failoverTrials(b *testing.B, ttl time.Duration, trials int) {
	c := storetest.StartCluster(b, 3, func(cfg *store.Config) { cfg.SessionTTL = ttl })
	type win struct {
		member int
		at     time.Time
	}
	wins := make(chan win, 64)
	var spurious atomic.Int32
	killed := atomic.Int32{}
	killed.Store(-1)
	cancels := make([]context.CancelFunc, 3)
	dones := make([]chan struct{}, 3)
	start := func(i int) {
		ctx, cancel := context.WithCancel(b.Context())
		cancels[i], dones[i] = cancel, make(chan struct{})
		s := c.Store(i)
		go func() {
			defer close(dones[i])
			s.NewElection("bench", fmt.Sprintf("m%d", i)).Run(ctx, func(lctx context.Context) error {
				wins <- win{i, time.Now()}
				<-lctx.Done()
				if ctx.Err() == nil && int(killed.Load()) != i {
					spurious.Add(1)
				}
				return nil
			})
		}()
	}
	for i := range 3 {
		start(i)
	}
	defer func() {
		for i := range 3 {
			cancels[i]()
			<-dones[i]
		}
	}()
	current := (<-wins).member
	var took []time.Duration
	raftLeaderToo := 0
	for range trials {
		if st, err := c.Store(current).Status(b.Context()); err == nil && st.LeaderID == st.MemberID {
			raftLeaderToo++
		}
		killed.Store(int32(current))
		t0 := time.Now()
		c.Kill(current)
		var w win
		select {
		case w = <-wins:
		case <-time.After(30 * time.Second):
			b.Fatal("no new leader within 30s")
		}
		took = append(took, w.at.Sub(t0))
		<-dones[current]
		if err := c.Start(current); err != nil {
			b.Fatal(err)
		}
		start(current)
		current = w.member
	}
	slices.Sort(took)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(took[len(took)/2]), "p50-ms")
	b.ReportMetric(ms(took[len(took)-1]), "max-ms")
	b.ReportMetric(ms(took[0]), "min-ms")
	b.ReportMetric(float64(spurious.Load()), "spurious-demotions")
	b.Logf("ttl=%v failover times %v (killed member was also the raft leader in %d/%d trials)", ttl, took, raftLeaderToo, trials)
}

// BenchmarkApplyConcurrentDirect is the baseline without group commit: the same load as
// BenchmarkApplyConcurrent, each caller sending its own transaction through the raw client.
func BenchmarkApplyConcurrentDirect(b *testing.B) {
	for _, callers := range []int{16, 128} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			s := storetest.Open(b)
			ctx := b.Context()
			val := string(make([]byte, 256))
			var n atomic.Int64
			txns := revisionSpan(b, s, func() {
				b.SetParallelism(max(1, callers/2))
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						k := n.Add(1)
						if _, err := s.Client().Put(ctx, fmt.Sprintf("%s/bench/direct/%d", s.Prefix(), k), val); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.StopTimer()
			})
			reportThroughput(b, n.Load(), txns)
		})
	}
}

// BenchmarkRaftLeaderLoss measures whether a short SessionTTL demotes an election leader
// spuriously when a *different* member, the raft leader, dies: keepalives fail while raft
// elects a new leader. Reports demotions per trial (0 is the goal). Run with -benchtime=1x.
func BenchmarkRaftLeaderLoss(b *testing.B) {
	for _, ttl := range []time.Duration{time.Second, 2 * time.Second} {
		b.Run(fmt.Sprintf("ttl=%v", ttl), func(b *testing.B) {
			for b.Loop() {
				raftLossTrials(b, ttl, 6)
			}
		})
	}
}

func raftLossTrials(b *testing.B, ttl time.Duration, trials int) {
	c := storetest.StartCluster(b, 3, func(cfg *store.Config) { cfg.SessionTTL = ttl })
	demotions := 0
	for range trials {
		st, err := c.Store(0).Status(b.Context())
		if err != nil {
			b.Fatal(err)
		}
		raftLeader := -1
		for i := range 3 {
			if c.Configs[i].Name == st.Leader {
				raftLeader = i
			}
		}
		if raftLeader < 0 {
			b.Fatalf("no raft leader in %+v", st)
		}
		cand := (raftLeader + 1) % 3
		ctx, cancel := context.WithCancel(b.Context())
		elected, demoted := make(chan struct{}, 8), make(chan struct{}, 8)
		done := make(chan struct{})
		go func() {
			defer close(done)
			c.Store(cand).NewElection("raftloss", "x").Run(ctx, func(lctx context.Context) error {
				elected <- struct{}{}
				<-lctx.Done()
				if ctx.Err() == nil {
					demoted <- struct{}{}
				}
				return nil
			})
		}()
		<-elected
		c.Kill(raftLeader)
		// Watch the leader through raft's election and a few TTLs after it.
		deadline := time.After(3 * ttl)
	watch:
		for {
			select {
			case <-demoted:
				demotions++
			case <-deadline:
				break watch
			}
		}
		cancel()
		<-done
		if err := c.Start(raftLeader); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(demotions)/float64(trials), "demotions/trial")
}

// BenchmarkApplyTLS compares a 3-member store over plain HTTP with the same
// store over mutual TLS (peers and client), side by side: one caller
// writing one key per Apply (latency: ns/op), and 64 callers (throughput).
func BenchmarkApplyTLS(b *testing.B) {
	for _, mode := range []string{"plain", "tls"} {
		for _, callers := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/callers=%d", mode, callers), func(b *testing.B) {
				opt := func(cfg *store.Config) { cfg.ClientURL, cfg.PeerURL = freePort127(b), freePort127(b) }
				if mode == "tls" {
					f := tlsFiles(b, "127.0.0.1")
					opt = func(cfg *store.Config) {
						cfg.ClientURL, cfg.PeerURL = freePort127(b), freePort127(b)
						withTLS(f)(cfg)
					}
				}
				c := storetest.StartCluster(b, 3, opt)
				s := c.Store(0)
				ctx := b.Context()
				val := make([]byte, 256)
				var n atomic.Int64
				b.SetParallelism(max(1, callers/2))
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := s.Apply(ctx, store.Put(fmt.Sprintf("bench/tls/%d", n.Add(1)), val)); err != nil {
							b.Error(err)
							return
						}
					}
				})
				b.StopTimer()
				b.ReportMetric(float64(n.Load())/b.Elapsed().Seconds(), "keys/s")
			})
		}
	}
}
