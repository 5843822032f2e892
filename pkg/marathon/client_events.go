package marathon

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// maxEventBytes bounds one event's data: deployment events carry whole
// plans with app definitions, a few hundred KiB at most.
const maxEventBytes = 16 << 20

// errEventTooBig stops a stream whose event grows past maxEventBytes.
var errEventTooBig = errors.New("event stream: event larger than 16 MiB")

// Events subscribes to the event stream, GET /v2/events, only to the given
// event types if any are given (event_type=...). The channel yields events
// until ctx is done or the stream ends, then closes; the error is for
// failing to subscribe. Cancel ctx to unsubscribe.
func (c *Client) Events(ctx context.Context, types ...string) (<-chan Event, error) {
	var q url.Values
	if len(types) > 0 {
		q = url.Values{"event_type": types}
	}
	u := c.endpoint(q, "v2", "events")
	req, err := c.request(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	// A stream lasts as long as ctx: the configured client's whole-request
	// Timeout would cut it off, so use a copy without it.
	hc := *c.http
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("GET %s: %w", u.Redacted(), err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return nil, newAPIError(http.MethodGet, u.Path, resp.StatusCode, data)
	}
	ch := make(chan Event)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		_ = parseSSE(resp.Body, func(ev Event) bool {
			select {
			case ch <- ev:
				return true
			case <-ctx.Done():
				return false
			}
		})
	}()
	return ch, nil
}

// parseSSE reads a text/event-stream from r and calls emit for each event
// until emit returns false, r ends or fails. It follows the SSE rules that
// matter for Marathon: lines end in LF, CRLF or CR; "event:" sets the type;
// "data:" lines are joined with LF; one space after the colon is dropped;
// lines starting with ":" are comments; a blank line ends an event, and an
// event without data is dropped; "id" and "retry" are ignored. An event cut
// off by the end of the stream is dropped. Type defaults to "message".
func parseSSE(r io.Reader, emit func(Event) bool) error {
	br := bufio.NewReader(r)
	var (
		typ     string
		data    []byte
		hasData bool
		line    []byte
	)
	for {
		var err error
		line, err = readLine(br, line[:0])
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if len(line) == 0 {
			if hasData {
				if typ == "" {
					typ = "message"
				}
				if !emit(Event{Type: typ, Data: data}) {
					return nil
				}
			}
			typ, data, hasData = "", nil, false
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "event":
			typ = string(value)
		case "data":
			if len(data)+len(value)+1 > maxEventBytes {
				return errEventTooBig
			}
			if hasData {
				data = append(data, '\n')
			} else {
				data = make([]byte, 0, len(value))
			}
			data = append(data, value...)
			hasData = true
		}
	}
}

// readLine appends the next line of br, without its terminator (LF, CRLF or
// CR), to buf. It returns io.EOF at the end of input, including after a last
// line without a terminator, which SSE treats as never finished.
func readLine(br *bufio.Reader, buf []byte) ([]byte, error) {
	for {
		b, err := br.ReadByte()
		if err != nil {
			return buf, err
		}
		switch b {
		case '\n':
			return buf, nil
		case '\r':
			if next, err := br.ReadByte(); err == nil && next != '\n' {
				_ = br.UnreadByte() // cannot fail right after a ReadByte
			}
			return buf, nil
		}
		if len(buf) >= maxEventBytes {
			return buf, errEventTooBig
		}
		buf = append(buf, b)
	}
}
