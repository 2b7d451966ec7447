package controller

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"dist/core/api"
)

// Local aliases keep the handlers short.
const (
	codeBadRequest = api.CodeBadRequest
	codeNotFound   = api.CodeNotFound
)

// handler is an HTTP handler that answers errors by returning them; serve turns them into api.Error.
type handler func(w http.ResponseWriter, r *http.Request) error

// apiError is an error with the status and code it is answered with.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func errorf(status int, code, format string, args ...any) error {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

func badRequest(format string, args ...any) error {
	return errorf(http.StatusBadRequest, codeBadRequest, format, args...)
}

// serve runs h and answers its error, if any, as JSON. Errors that are not apiErrors are the
// controller's own trouble (the store): they are logged and answered 500 without detail beyond
// their message.
func (s *Server) serve(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		var ae *apiError
		if !errors.As(err, &ae) {
			s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			ae = &apiError{
				status: http.StatusInternalServerError,
				code:   api.CodeInternal,
				msg:    fmt.Sprintf("controller error: %v: see the controller log", err),
			}
		}
		writeJSON(w, ae.status, api.Error{Error: ae.msg, Code: ae.code})
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decode reads a JSON body of at most maxBody bytes into v (limits.go). Unknown fields are
// accepted: newer clients may send fields an older controller does not know.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	return decodeLimited(w, r, v, maxBody, nil)
}
