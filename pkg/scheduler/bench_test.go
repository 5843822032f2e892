package scheduler

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/basalt-dcos/basalt/pkg/mesosv1"
)

// offersEvent is an OFFERS event with n offers shaped like a real agent's.
func offersEvent(n int) mesosv1.Event {
	ev := mesosv1.Event{Type: mesosv1.EventOffers, Offers: &mesosv1.EventOffersBody{}}
	for i := range n {
		ev.Offers.Offers = append(ev.Offers.Offers, mesosv1.Offer{
			ID: mesosv1.ID{Value: fmt.Sprintf("offer-%d", i)}, FrameworkID: mesosv1.ID{Value: "fw-1"},
			AgentID: mesosv1.ID{Value: fmt.Sprintf("agent-%d", i)}, Hostname: fmt.Sprintf("10.0.0.%d", i%250),
			Resources: []mesosv1.Resource{Scalar("cpus", 8), Scalar("mem", 30000), Scalar("disk", 100000),
				Ranges("ports", Range(1025, 2180), Range(2182, 3887), Range(31000, 32000))},
		})
	}
	return ev
}

func BenchmarkDecodeOffersEvent(b *testing.B) {
	rec, err := json.Marshal(offersEvent(100))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(rec)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeEvent(rec); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamEvents measures events/s through a real HTTP stream from the
// fake master to the handler (one small OFFERS event each).
func BenchmarkStreamEvents(b *testing.B) {
	m := newFakeMaster(b)
	c := newTestClient(b, testConfig(m.URL()))
	got := make(chan struct{}, 1024)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- c.Run(ctx, func(_ context.Context, _ *Client, ev mesosv1.Event) error {
			if ev.Type == mesosv1.EventOffers {
				got <- struct{}{}
			}
			return nil
		})
	}()
	s := m.nextStream(b)
	ev := offersEvent(1)
	b.ResetTimer()
	go func() {
		for range b.N {
			s.events <- ev
		}
	}()
	for range b.N {
		<-got
	}
	b.StopTimer()
	cancel()
	<-done
}

// BenchmarkCall measures one DECLINE round trip to the fake master.
func BenchmarkCall(b *testing.B) {
	m := newFakeMaster(b)
	c := newTestClient(b, testConfig(m.URL()))
	ctx, cancel := context.WithCancel(context.Background())
	subscribed := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- c.Run(ctx, func(_ context.Context, _ *Client, ev mesosv1.Event) error {
			if ev.Type == mesosv1.EventSubscribed {
				close(subscribed)
			}
			return nil
		})
	}()
	<-subscribed
	ids := []mesosv1.ID{{Value: "o1"}}
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Decline(ctx, ids, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cancel()
	<-done
}
