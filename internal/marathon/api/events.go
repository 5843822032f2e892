package api

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/basalt-dcos/basalt/internal/marathon"
	v2 "github.com/basalt-dcos/basalt/pkg/marathon"
)

// events is GET /v2/events: Marathon's events as server-sent events,
//
//	event: <eventType>
//	data: <json payload>
//	<blank line>
//
// flushed one by one, starting with event_stream_attached. Repeated
// event_type parameters keep only those types (the attached event too). A
// comment line is sent every KeepAlive so proxies keep an idle stream open.
// The stream ends when the client goes away or the core closes it.
func (a *API) events(w http.ResponseWriter, r *http.Request) {
	if !acceptsEventStream(r) {
		writeError(w, http.StatusNotAcceptable, "The event stream is only available as text/event-stream")
		return
	}
	filter := map[string]bool{}
	for _, v := range r.URL.Query()["event_type"] {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t != "" {
				filter[t] = true
			}
		}
	}
	ctx := r.Context()
	// Subscribe before anything is sent, so no event falls between the
	// attached event and the subscription.
	ch := a.b.Subscribe(ctx)

	rc := http.NewResponseController(w)
	// A server-wide write timeout must not cut a long-lived stream.
	_ = rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)

	send := func(ev v2.Event) error {
		if len(filter) > 0 && !filter[ev.Type] {
			return nil
		}
		var buf bytes.Buffer
		buf.WriteString("event: " + ev.Type + "\ndata: ")
		// An SSE data line must not contain a newline.
		if err := json.Compact(&buf, ev.Data); err != nil {
			buf.Write(bytes.ReplaceAll(ev.Data, []byte("\n"), nil))
		}
		buf.WriteString("\n\n")
		if _, err := w.Write(buf.Bytes()); err != nil {
			return err
		}
		return rc.Flush()
	}

	attached, _ := json.Marshal(map[string]string{
		"remoteAddress": remoteAddress(r),
		"eventType":     marathon.EventStreamAttached,
		"timestamp":     isoTime(time.Now()),
	})
	if err := send(v2.Event{Type: marathon.EventStreamAttached, Data: attached}); err != nil {
		return
	}
	if err := rc.Flush(); err != nil { // headers go out even when the attached event is filtered
		return
	}

	keepAlive := time.NewTicker(a.opts.KeepAlive)
	defer keepAlive.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-ch:
			if !ok {
				return
			}
			if err := send(ev); err != nil {
				return
			}
		case <-keepAlive.C:
			if _, err := w.Write([]byte(": keep-alive\n\n")); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
	}
}

// acceptsEventStream reports whether the client takes text/event-stream:
// no Accept header, */*, text/* and text/event-stream all do.
func acceptsEventStream(r *http.Request) bool {
	accept := strings.Join(r.Header.Values("Accept"), ",")
	if strings.TrimSpace(accept) == "" {
		return true
	}
	q, spec := acceptQuality(accept, "text", "event-stream")
	return spec >= 0 && q > 0
}

// remoteAddress is the client's IP: the first X-Forwarded-For entry when a
// standby proxied the request, else the connection's peer.
func remoteAddress(r *http.Request) string {
	if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
		first, _, _ := strings.Cut(xff, ",")
		return strings.TrimSpace(first)
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
