package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/murmurhq/murmur/agent/client"
)

// Sentinels that backends wrap so the handler can pick the status code.
var (
	// ErrNotFound is 404: an unknown key, service, check or node.
	ErrNotFound = errors.New("httpapi: not found")
	// ErrBadRequest is 400: invalid input; the message names the field.
	ErrBadRequest = errors.New("httpapi: bad request")
	// ErrTooLarge is 413: a value or body over its limit; the message
	// names the limit.
	ErrTooLarge = errors.New("httpapi: too large")
	// ErrForbidden is 403: a write the API does not allow.
	ErrForbidden = errors.New("httpapi: forbidden")
	// ErrConflict is 409: the write conflicts with the current state.
	ErrConflict = errors.New("httpapi: conflict")
	// ErrUnavailable is 503: the agent is not ready or shutting down.
	ErrUnavailable = errors.New("httpapi: unavailable")
)

var sentinels = []struct {
	err  error
	code int
}{
	{ErrNotFound, http.StatusNotFound},
	{ErrBadRequest, http.StatusBadRequest},
	{ErrTooLarge, http.StatusRequestEntityTooLarge},
	{ErrForbidden, http.StatusForbidden},
	{ErrConflict, http.StatusConflict},
	{ErrUnavailable, http.StatusServiceUnavailable},
}

// StatusCode returns the HTTP status for err: the code of the first
// sentinel it wraps, else 500.
func StatusCode(err error) int {
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			return s.code
		}
	}
	return http.StatusInternalServerError
}

// Message is the text users see for err: its message without a leading
// sentinel text, which only repeats the status code. Other faces of the
// same backend (the Consul-compatible API) show backend errors with it.
func Message(err error) string { return message(err) }

// message is the text users see: err's message without a leading sentinel
// text, which only repeats the status code.
func message(err error) string {
	msg := err.Error()
	for _, s := range sentinels {
		if rest, ok := strings.CutPrefix(msg, s.err.Error()+": "); ok && rest != "" {
			return rest
		}
	}
	return msg
}

// writeJSON answers code with v encoded as JSON; ?pretty indents it. The
// body is encoded before the status is sent: a value that cannot be
// encoded is a 500 naming the reason, never a 200 with an empty or cut
// body.
func writeJSON(w http.ResponseWriter, r *http.Request, code int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	if r != nil && r.URL.Query().Has("pretty") {
		enc.SetIndent("", "  ")
	}
	if err := enc.Encode(v); err != nil {
		buf.Reset()
		code = http.StatusInternalServerError
		_ = json.NewEncoder(&buf).Encode(client.Error{Error: "httpapi: encode response: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	// A failed write means the client went away; nothing to do about it.
	_, _ = w.Write(buf.Bytes())
}

// errorText answers code with {"error": msg}.
func errorText(w http.ResponseWriter, r *http.Request, code int, msg string) {
	writeJSON(w, r, code, client.Error{Error: msg})
}

// fail answers err with the status code of its sentinel; 5xx are logged
// unless the client has gone away.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := StatusCode(err)
	if code >= 500 && r.Context().Err() == nil {
		s.log.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", code), slog.String("error", err.Error()))
	}
	errorText(w, r, code, message(err))
}
