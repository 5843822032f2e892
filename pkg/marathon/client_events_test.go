package marathon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

func TestParseSSE(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Event
	}{
		{
			name: "marathon events",
			in: "event: event_stream_attached\ndata: {\"remoteAddress\":\"1.2.3.4\",\"eventType\":\"event_stream_attached\"}\n\n" +
				"event: deployment_success\ndata: {\"id\":\"d1\",\"eventType\":\"deployment_success\"}\n\n",
			want: []Event{
				{Type: "event_stream_attached", Data: json.RawMessage(`{"remoteAddress":"1.2.3.4","eventType":"event_stream_attached"}`)},
				{Type: "deployment_success", Data: json.RawMessage(`{"id":"d1","eventType":"deployment_success"}`)},
			},
		},
		{
			name: "comments, CRLF, CR, no space after colon, id and retry ignored",
			in:   ": keep-alive\r\n\r\nid: 7\r\nretry: 10\revent:x\rdata:{}\r\n\r\n",
			want: []Event{{Type: "x", Data: json.RawMessage(`{}`)}},
		},
		{
			name: "multi-line data joined, default type",
			in:   "data: {\"a\":\ndata: 1}\n\n",
			want: []Event{{Type: "message", Data: json.RawMessage("{\"a\":\n1}")}},
		},
		{
			name: "only one leading space dropped, empty data kept",
			in:   "event: e\ndata:  x\n\nevent: f\ndata\n\n",
			want: []Event{{Type: "e", Data: json.RawMessage(" x")}, {Type: "f", Data: json.RawMessage("")}},
		},
		{
			name: "event without data dropped, type does not leak",
			in:   "event: lonely\n\ndata: 1\n\n",
			want: []Event{{Type: "message", Data: json.RawMessage("1")}},
		},
		{
			name: "unfinished event at end of stream dropped",
			in:   "event: a\ndata: 1\n\nevent: b\ndata: 2\n",
			want: []Event{{Type: "a", Data: json.RawMessage("1")}},
		},
		{
			name: "empty stream",
			in:   "",
			want: nil,
		},
	}
	readers := map[string]func(string) io.Reader{
		"whole":       func(s string) io.Reader { return strings.NewReader(s) },
		"byte chunks": func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) },
		"half chunks": func(s string) io.Reader { return iotest.HalfReader(strings.NewReader(s)) },
	}
	for _, tt := range tests {
		for rname, rd := range readers {
			t.Run(tt.name+"/"+rname, func(t *testing.T) {
				var got []Event
				err := parseSSE(rd(tt.in), func(ev Event) bool { got = append(got, ev); return true })
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("events (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestParseSSEStopsWhenEmitSaysSo(t *testing.T) {
	n := 0
	err := parseSSE(strings.NewReader("data: 1\n\ndata: 2\n\n"), func(Event) bool { n++; return false })
	if err != nil || n != 1 {
		t.Errorf("err=%v, emitted %d events, want nil, 1", err, n)
	}
}

func TestParseSSEReadError(t *testing.T) {
	boom := errors.New("boom")
	err := parseSSE(io.MultiReader(strings.NewReader("data: 1\n"), iotest.ErrReader(boom)), func(Event) bool { return true })
	if !errors.Is(err, boom) {
		t.Errorf("err = %v, want boom", err)
	}
}

func TestEvents(t *testing.T) {
	var gotQuery, gotAccept string
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotQuery, gotAccept = r.URL.RawQuery, r.Header.Get("Accept")
		if r.URL.Path != "/m/v2/events" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		f := w.(http.Flusher)
		// The first event arrives in two writes split mid-line.
		io.WriteString(w, "event: deployment_succ")
		f.Flush()
		io.WriteString(w, "ess\ndata: {\"id\":\"d1\"}\n\n")
		f.Flush()
		<-release
		fmt.Fprintf(w, ": ping\n\nevent: deployment_failed\ndata: {\"id\":\"d2\"}\n\n")
	}))
	defer srv.Close()
	c, err := NewClient(srv.URL + "/m")
	if err != nil {
		t.Fatal(err)
	}
	ch, err := c.Events(t.Context(), "deployment_success", "deployment_failed")
	if err != nil {
		t.Fatal(err)
	}
	if gotQuery != "event_type=deployment_success&event_type=deployment_failed" || gotAccept != "text/event-stream" {
		t.Errorf("query %q accept %q", gotQuery, gotAccept)
	}
	first := <-ch
	close(release)
	var got []Event
	got = append(got, first)
	for ev := range ch { // closes when the handler returns
		got = append(got, ev)
	}
	want := []Event{
		{Type: "deployment_success", Data: json.RawMessage(`{"id":"d1"}`)},
		{Type: "deployment_failed", Data: json.RawMessage(`{"id":"d2"}`)},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestEventsSubscribeError(t *testing.T) {
	srv, _ := fakeServer(t, answer{status: 403, body: `{"message":"forbidden"}`})
	c, _ := NewClient(srv.URL)
	_, err := c.Events(t.Context())
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != 403 || ae.Body.Message != "forbidden" {
		t.Errorf("err = %v, want APIError 403 forbidden", err)
	}
}

// FuzzParseSSE checks that any byte stream parses without panicking, and
// that splitting the stream into one-byte reads changes nothing.
func FuzzParseSSE(f *testing.F) {
	f.Add([]byte("event: a\ndata: {}\n\n"))
	f.Add([]byte(": c\r\n\r\ndata:1\rdata: 2\r\n\r\nevent\n\n"))
	f.Add([]byte("data\n\ndata:\n\n\r\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		collect := func(r io.Reader) []Event {
			var evs []Event
			if err := parseSSE(r, func(ev Event) bool { evs = append(evs, ev); return true }); err != nil {
				t.Fatalf("parseSSE: %v", err)
			}
			return evs
		}
		whole := collect(strings.NewReader(string(in)))
		bytewise := collect(iotest.OneByteReader(strings.NewReader(string(in))))
		if diff := cmp.Diff(whole, bytewise); diff != "" {
			t.Errorf("chunking changed the result (-whole +bytewise):\n%s", diff)
		}
		for _, ev := range whole {
			if ev.Type == "" || strings.ContainsAny(ev.Type, "\r\n") {
				t.Errorf("bad event type %q", ev.Type)
			}
			if strings.ContainsRune(string(ev.Data), '\r') {
				t.Errorf("data %q keeps a CR", ev.Data)
			}
		}
	})
}
