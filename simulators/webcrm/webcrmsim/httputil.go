package webcrmsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// httpError is an API error answered as {"Message": ..., "Type": ...}.
type httpError struct {
	status int
	typ    string
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(format string, args ...any) *httpError {
	return &httpError{status: http.StatusBadRequest, typ: "BadRequestException", msg: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) *httpError {
	return &httpError{status: http.StatusNotFound, typ: "NotFoundException", msg: fmt.Sprintf(format, args...)}
}

func unauthorized(msg string) *httpError {
	return &httpError{status: http.StatusUnauthorized, typ: "UnauthorizedException", msg: msg}
}

// errorBody is the JSON error shape the simulator uses for every non-2xx
// answer except login failures and 429 (which adds RetryAfterSeconds).
type errorBody struct {
	Message string `json:"Message"`
	Type    string `json:"Type"`
}

func writeError(w http.ResponseWriter, err error) {
	var he *httpError
	if !errors.As(err, &he) {
		he = &httpError{status: http.StatusInternalServerError, typ: "InternalServerErrorException", msg: "An error has occurred."}
	}
	writeJSON(w, he.status, errorBody{Message: he.msg, Type: he.typ})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"Message":"encoding failed","Type":"InternalServerErrorException"}`)
	}
	writeRaw(w, status, b)
}

func writeRaw(w http.ResponseWriter, status int, b []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeEmpty answers 200 with no body (PUT, DELETE, POST /Organisations).
func writeEmpty(w http.ResponseWriter) {
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

// tooManyBody is webCRM's documented 429 body.
type tooManyBody struct {
	RetryAfterSeconds int    `json:"RetryAfterSeconds"`
	Message           string `json:"Message"`
	Type              string `json:"Type"`
}

func writeTooMany(w http.ResponseWriter, retryAfter int, msg string) {
	w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
	writeJSON(w, http.StatusTooManyRequests, tooManyBody{RetryAfterSeconds: retryAfter, Message: msg, Type: "TooManyRequestsException"})
}

func methodNotAllowed(w http.ResponseWriter, allowed []string) {
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	writeJSON(w, http.StatusMethodNotAllowed, errorBody{
		Message: "The requested resource does not support this HTTP method.",
		Type:    "MethodNotAllowedException",
	})
}

// jsonMediaType reports whether a Content-Type is one of the JSON types the
// swagger lists under "consumes".
func jsonMediaType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	switch mt {
	case "application/json", "text/json", "application/json-patch+json":
		return true
	}
	return strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")
}

// readJSON decodes the request body as exactly one JSON value, numbers as
// json.Number. The Content-Type must be a JSON type.
func readJSON(r *http.Request, maxBytes int64) (any, error) {
	if !jsonMediaType(r.Header.Get("Content-Type")) {
		return nil, &httpError{status: http.StatusUnsupportedMediaType, typ: "UnsupportedMediaTypeException",
			msg: fmt.Sprintf("Content-Type %q is not supported; send application/json.", r.Header.Get("Content-Type"))}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBytes+1))
	if err != nil {
		return nil, badRequest("Reading the request body failed: %v", err)
	}
	if int64(len(body)) > maxBytes {
		return nil, &httpError{status: http.StatusRequestEntityTooLarge, typ: "RequestEntityTooLargeException", msg: "The request body is too large."}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, badRequest("A non-empty request body is required.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, badRequest("The request body is not valid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, badRequest("The request body has data after the JSON value.")
	}
	return v, nil
}

// readObject reads a JSON object body.
func readObject(r *http.Request, maxBytes int64) (map[string]any, error) {
	v, err := readJSON(r, maxBytes)
	if err != nil {
		return nil, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, badRequest("The request body must be a JSON object, got %s.", jsonTypeName(v))
	}
	return obj, nil
}

// statusRecorder remembers the status written, for the stats.
type statusRecorder struct {
	http.ResponseWriter
	status  int
	dropped bool
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusRecorder) statusForStats() int {
	if w.dropped {
		return 0
	}
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// bufferedWriter holds a whole response so a fault can truncate its body.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newBufferedWriter() *bufferedWriter { return &bufferedWriter{header: http.Header{}} }

func (b *bufferedWriter) Header() http.Header { return b.header }
func (b *bufferedWriter) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}
func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

// truncate cuts a non-empty 200 body in half (a one-byte body becomes
// empty); it reports whether it did.
func (b *bufferedWriter) truncate() bool {
	if (b.status != 0 && b.status != http.StatusOK) || b.body.Len() == 0 {
		return false
	}
	b.body.Truncate(b.body.Len() / 2)
	b.header.Del("Content-Length")
	return true
}

func (b *bufferedWriter) copyTo(w http.ResponseWriter) {
	for k, v := range b.header {
		w.Header()[k] = v
	}
	if b.status == 0 {
		b.status = http.StatusOK
	}
	w.Header().Set("Content-Length", strconv.Itoa(b.body.Len()))
	w.WriteHeader(b.status)
	_, _ = w.Write(b.body.Bytes())
}

// dropConnection closes the client connection without an HTTP response.
// It hijacks HTTP/1 connections; otherwise it aborts the handler, which
// net/http turns into a reset stream or closed connection.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		_ = conn.Close()
		return
	}
	panic(http.ErrAbortHandler)
}
