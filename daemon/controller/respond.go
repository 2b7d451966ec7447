package controller

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"dist/core/api"
)

// Local aliases keep the handlers short.
const (
	codeBadRequest = api.CodeBadRequest
	codeNotFound   = api.CodeNotFound
)

// maxBody bounds request bodies. The largest is a metainfo: 20 bytes per piece, so a 256 GiB image
// in 256 KiB pieces is 20 MiB of hashes, 27 MiB once base64 encoded in JSON.
const maxBody = 64 << 20

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

// decode reads a JSON body into v. Unknown fields are accepted: newer clients may send fields an
// older controller does not know.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			return errorf(http.StatusRequestEntityTooLarge, codeBadRequest, "request body is larger than %d bytes", tooBig.Limit)
		case errors.Is(err, io.EOF):
			return badRequest("request body is empty: send a json document")
		default:
			return badRequest("request body is not valid json: %v", err)
		}
	}
	return nil
}
