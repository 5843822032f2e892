package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/basalt-dcos/basalt/internal/marathon"
	"github.com/basalt-dcos/basalt/internal/marathon/appdef"
	v2 "github.com/basalt-dcos/basalt/pkg/marathon"
)

// statusError is a problem of the request itself found by a handler (a bad
// query parameter, an unsupported call): answered with status and message.
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &statusError{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// translate is the one table from errors to Marathon's status codes and
// bodies (reference §2.2). internal reports an unexpected error, which the
// caller logs; its text is never shown to the client.
func translate(err error) (status int, body v2.ErrorBody, internal bool) {
	var (
		se       *statusError
		tooLarge *http.MaxBytesError
		decode   *appdef.DecodeError
		invalid  *appdef.ValidationError
		appNF    *marathon.AppNotFoundError
		groupNF  *marathon.GroupNotFoundError
		taskNF   *marathon.TaskNotFoundError
		deplNF   *marathon.DeploymentNotFoundError
		appEx    *marathon.AppExistsError
		groupEx  *marathon.GroupExistsError
		conflict *marathon.ConflictError
		notLead  *marathon.NotLeaderError
	)
	switch {
	case errors.As(err, &se):
		return se.status, v2.ErrorBody{Message: se.msg}, false
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge, v2.ErrorBody{Message: fmt.Sprintf("Request body too large (limit %d bytes)", tooLarge.Limit)}, false
	case errors.As(err, &decode):
		return http.StatusBadRequest, v2.ErrorBody{Message: "Invalid JSON", Details: decode.Details}, false
	case errors.As(err, &invalid):
		return http.StatusUnprocessableEntity, v2.ErrorBody{Message: "Object is not valid", Details: invalid.Details}, false
	case errors.As(err, &appNF):
		return http.StatusNotFound, v2.ErrorBody{Message: appNF.Error()}, false
	case errors.As(err, &groupNF):
		return http.StatusNotFound, v2.ErrorBody{Message: groupNF.Error()}, false
	case errors.As(err, &taskNF):
		return http.StatusNotFound, v2.ErrorBody{Message: taskNF.Error()}, false
	case errors.As(err, &deplNF):
		return http.StatusNotFound, v2.ErrorBody{Message: deplNF.Error()}, false
	case errors.As(err, &appEx):
		return http.StatusConflict, v2.ErrorBody{Message: appEx.Error()}, false
	case errors.As(err, &groupEx):
		return http.StatusConflict, v2.ErrorBody{Message: groupEx.Error()}, false
	case errors.As(err, &conflict):
		first := "<DEPLOYMENT_ID>"
		if len(conflict.Deployments) > 0 {
			first = conflict.Deployments[0]
		}
		refs := make([]v2.DeploymentRef, 0, len(conflict.Deployments))
		for _, id := range conflict.Deployments {
			refs = append(refs, v2.DeploymentRef{ID: id})
		}
		return http.StatusConflict, v2.ErrorBody{
			Message:     "App is locked by one or more deployments. Override with the option '?force=true'. View details at '/v2/deployments/" + first + "'.",
			Deployments: refs,
		}, false
	case errors.As(err, &notLead):
		return http.StatusServiceUnavailable, v2.ErrorBody{Message: notLead.Error()}, false
	case errors.Is(err, marathon.ErrNotRunning):
		return http.StatusServiceUnavailable, v2.ErrorBody{Message: "Marathon is not running"}, false
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable, v2.ErrorBody{Message: "The request was cancelled or timed out"}, false
	default:
		return http.StatusInternalServerError, v2.ErrorBody{Message: "internal error"}, true
	}
}

// fail answers r with err translated; unexpected errors are logged.
func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, body, internal := translate(err)
	if internal {
		a.log.Error("marathon API call failed", "method", r.Method, "path", r.URL.Path, "error", err)
	} else {
		a.log.Debug("marathon API call refused", "method", r.Method, "path", r.URL.Path, "status", status, "error", err)
	}
	writeJSON(w, status, body)
}

// writeError answers with a plain {"message"} body.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, v2.ErrorBody{Message: msg})
}

// writeJSON answers with v as JSON. HTML characters are not escaped:
// Marathon writes "cmd": "a && b" as is.
// encodeCompact appends v's JSON to buf, without HTML escaping and without
// the trailing newline.
func encodeCompact(buf *bytes.Buffer, v any) error {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	buf.Truncate(buf.Len() - 1)
	return nil
}

// streamJSONList writes 200 with head, the comma-joined parts and tail,
// without copying the parts into one body.
func streamJSONList(w http.ResponseWriter, head, tail string, parts [][]byte) {
	size := len(head) + len(tail)
	for i, p := range parts {
		size += len(p)
		if i > 0 {
			size++
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(size))
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.WriteString(head)
	for i, p := range parts {
		if i > 0 {
			bw.WriteByte(',')
		}
		bw.Write(p)
	}
	bw.WriteString(tail)
	_ = bw.Flush()
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only a wire type with a broken MarshalJSON gets here.
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"message":"internal error"}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// writeDeployment answers a mutation with its deployment: header
// Marathon-Deployment-Id and body {"deploymentId","version"}.
func writeDeployment(w http.ResponseWriter, status int, res v2.DeploymentResult) {
	if res.DeploymentID != "" {
		w.Header().Set("Marathon-Deployment-Id", res.DeploymentID)
	}
	writeJSON(w, status, res)
}

// readBody reads r's body, at most MaxBodyBytes of it.
func (a *API) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, a.opts.MaxBodyBytes))
	if err != nil {
		return nil, fmt.Errorf("read request body: %w", err)
	}
	return data, nil
}

// boolParam reads a true/false query parameter; absent means def.
// reader reads a mutating request's path id, query flags and body, keeping
// the first error, so that a handler answers it once (failed).
type reader struct {
	a   *API
	w   http.ResponseWriter
	r   *http.Request
	err error
}

func (a *API) reader(w http.ResponseWriter, r *http.Request) *reader {
	return &reader{a: a, w: w, r: r}
}

// id parses the path's "rest" with parse (canonicalID or groupID).
func (q *reader) id(parse func(string) (string, error)) string {
	if q.err != nil {
		return ""
	}
	id, err := parse(q.r.PathValue("rest"))
	q.err = err
	return id
}

// flag reads a boolean query parameter.
func (q *reader) flag(name string, def bool) bool {
	if q.err != nil {
		return def
	}
	v, err := boolParam(q.r, name, def)
	q.err = err
	return v
}

// body reads the size-limited body.
func (q *reader) body() []byte {
	if q.err != nil {
		return nil
	}
	b, err := q.a.readBody(q.w, q.r)
	q.err = err
	return b
}

// failed answers the first error, if any, and reports whether there was one.
func (q *reader) failed() bool {
	if q.err == nil {
		return false
	}
	q.a.fail(q.w, q.r, q.err)
	return true
}

func boolParam(r *http.Request, name string, def bool) (bool, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	v, err := strconv.ParseBool(s)
	if err != nil {
		return false, badRequest("Invalid boolean value %q for query parameter '%s'", s, name)
	}
	return v, nil
}

// decodeJSON decodes a body the api package parses itself (not app or
// group definitions, which appdef decodes) and reports failures the way
// appdef does, so that they get the same 400 body.
func decodeJSON(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		path := "/"
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			path = "/" + strings.ReplaceAll(te.Field, ".", "/")
		}
		return &appdef.DecodeError{Details: []v2.ErrorDetail{{Path: path, Errors: []string{err.Error()}}}}
	}
	return nil
}
