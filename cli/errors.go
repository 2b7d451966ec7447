package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/alecthomas/kong"

	"dist/core/api"
)

// exitError is an error whose command already knows the exit code. msg, when set, is the line to
// print; otherwise err's text is. It is used as a value: exitError{code: ExitPartial, err: err}.
type exitError struct {
	code int
	msg  string
	err  error
}

func (e exitError) Error() string {
	if e.msg != "" || e.err == nil {
		return e.msg
	}
	return e.err.Error()
}
func (e exitError) Unwrap() error { return e.err }
func (e exitError) ExitCode() int { return e.code }

// exitf builds an exitError with its own message.
func exitf(code int, format string, args ...any) error {
	return exitError{code: code, msg: fmt.Sprintf(format, args...)}
}

// usageError is a mistake in the invocation found after parsing; it exits with the usage code.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }
func (e usageError) ExitCode() int { return ExitUsage }

// localError marks an error that came from the local daemon's LocalAPI, so that an unreachable
// socket is explained as such and not as a controller problem.
type localError struct {
	socket string
	err    error
}

func (e *localError) Error() string { return "local daemon: " + e.err.Error() }
func (e *localError) Unwrap() error { return e.err }

// describe turns any error returned by a command into the one line printed on stderr and the exit
// code, following the table in exitcode.go. controller names the controller URL in hints.
func describe(err error, controller string) (msg string, code int, apiCode string) {
	var (
		ec kong.ExitCoder
		le *localError
		ue *api.UnreachableError
		se *api.StatusError
		pe *kong.ParseError
	)
	if errors.As(err, &se) {
		apiCode = se.Code
	}
	switch {
	case errors.As(err, &pe):
		if errors.As(pe.Unwrap(), &ec) {
			return err.Error(), ec.ExitCode(), ""
		}
		hint := "dist"
		if pe.Context != nil && pe.Context.Selected() != nil {
			hint = pe.Context.Selected().FullPath()
		}
		return err.Error() + " (see " + hint + " --help)", ExitUsage, ""
	case errors.As(err, &ec): // exitError, usageError: the command chose
		return err.Error(), ec.ExitCode(), apiCode
	case errors.As(err, &le) && errors.As(err, &ue):
		return fmt.Sprintf("cannot reach the local daemon at %s: %v: is it running? start 'dist daemon' or set --socket or DIST_SOCKET",
			le.socket, dialCause(ue)), ExitUnreachable, ""
	case errors.As(err, &ue):
		return fmt.Sprintf("cannot reach controller at %s: %v: is it running? set --controller or DIST_CONTROLLER",
			controller, dialCause(ue)), ExitUnreachable, ""
	case errors.As(err, &se):
		code := statusExit(se)
		if code == ExitUnauthorized {
			return refusedToken, code, apiCode
		}
		return err.Error(), code, apiCode
	case errors.Is(err, context.Canceled):
		return "interrupted", ExitInterrupted, ""
	}
	return err.Error(), ExitError, ""
}

// statusExit maps a controller answer to an exit code: by the stable API code first, by the HTTP
// status when the server gave none.
func statusExit(se *api.StatusError) int {
	switch se.Code {
	case api.CodeUnauthorized:
		return ExitUnauthorized
	case api.CodeNotFound, api.CodeNoTargets:
		return ExitNotFound
	case api.CodeSource, api.CodeNoRelay:
		return ExitSource
	}
	switch se.Status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return ExitUnauthorized
	case http.StatusNotFound:
		return ExitNotFound
	}
	return ExitError
}

// refusedToken is what a person needs to read when the controller answers 401.
const refusedToken = "controller refused the token: set --token or DIST_TOKEN"

// dialCause strips the request line from a transport error: "dial tcp 127.0.0.1:7700: connect:
// connection refused" says it all.
func dialCause(ue *api.UnreachableError) error {
	var uerr *url.Error
	if errors.As(ue.Err, &uerr) {
		return uerr.Err
	}
	return ue.Err
}

// jsonError is what --json prints on stderr for a failed command.
type jsonError struct {
	Error   string `json:"error"`
	Code    string `json:"code"`               // the exit code's name, see ExitCodes
	Exit    int    `json:"exit"`               // the process exit status
	APICode string `json:"api_code,omitempty"` // the controller's stable code, when it gave one
}

// printError writes the one-line error on stderr, as text or as JSON.
func printError(w io.Writer, asJSON, color bool, msg string, code int, apiCode string) {
	if asJSON {
		enc := json.NewEncoder(w) // one line: Encode ends it with a newline
		enc.SetEscapeHTML(false)
		_ = enc.Encode(jsonError{Error: msg, Code: exitName(code), Exit: code, APICode: apiCode})
		return
	}
	fmt.Fprintf(w, "%s %s\n", paint(color, styleRed, "dist:"), msg)
}
