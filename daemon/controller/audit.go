package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"dist/core/api"
	"dist/core/store"
)

// auditActions names what each audited route does. Every route that needs operate or admin is
// audited; reads are not (they change nothing and would drown the trail).
var auditActions = map[string]string{
	"POST /v1/distributions":             "push",
	"POST /v1/distributions/{id}/cancel": "cancel",
	"PUT /v1/origins":                    "origin.set",
	"GET " + BackupPath:                  "backup",
	"POST /v1/tokens":                    "token.create",
	"GET /v1/tokens":                     "token.ls",
	"DELETE /v1/tokens/{name}":           "token.revoke",
	"GET /v1/audit":                      "audit",
	"POST /v1/hosts/{name}/approve":      "host.approve",
	"POST /v1/hosts/{name}/deny":         "host.deny",
	"POST /v1/hosts/{name}/revoke":       "host.revoke",
}

// auditable reports whether the request's route is audited.
func auditable(r *http.Request) bool { return routeRole(r.Pattern) >= RoleOperate }

// auditBody is how much of an answer is kept to name the target and the error.
const auditBody = 8 << 10

// auditWriter passes the answer on and keeps its status and first bytes.
type auditWriter struct {
	http.ResponseWriter
	status int
	head   bytes.Buffer
}

func (a *auditWriter) WriteHeader(code int) {
	if a.status == 0 {
		a.status = code
	}
	a.ResponseWriter.WriteHeader(code)
}

func (a *auditWriter) Write(b []byte) (int, error) {
	if a.status == 0 {
		a.status = http.StatusOK
	}
	if n := auditBody - a.head.Len(); n > 0 {
		a.head.Write(b[:min(n, len(b))])
	}
	return a.ResponseWriter.Write(b)
}

func (a *auditWriter) Flush() {
	if f, ok := a.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (a *auditWriter) Unwrap() http.ResponseWriter { return a.ResponseWriter }

// audited runs next and appends who did what, from where, and how it ended, to the audit table.
// The entry is written after the answer: an audit failure is logged, it does not undo the action.
func (s *Server) audited(w http.ResponseWriter, r *http.Request, c caller, next http.Handler) {
	aw := &auditWriter{ResponseWriter: w}
	next.ServeHTTP(aw, r)
	s.recordAudit(r, c, aw.status, aw.head.Bytes())
}

// auditRefused records a refused operator request by a known token (a wrong role); unknown
// tokens are not written: anyone could fill the table with them.
func (s *Server) auditRefused(r *http.Request, name string, role Role, status int, msg string) {
	body, _ := json.Marshal(api.Error{Error: msg})
	s.recordAudit(r, caller{kind: callerOperator, name: name, role: role, remote: remoteIP(r)}, status, body)
}

func (s *Server) recordAudit(r *http.Request, c caller, status int, body []byte) {
	st := s.trust.tokens.st
	if st == nil {
		return
	}
	action, ok := auditActions[r.Pattern]
	if !ok {
		action = r.Pattern
	}
	e := store.AuditEntry{At: s.now(), Who: c.name, Role: c.role.String(), Action: action,
		Target: auditTarget(r, status, body), Remote: c.remote, Status: status, Result: "ok"}
	if status >= 300 {
		var ae api.Error
		if json.Unmarshal(body, &ae) == nil && ae.Error != "" {
			e.Result = ae.Error
		} else {
			e.Result = http.StatusText(status)
		}
	}
	s.writeAudit(r, st, e)
}

// writeAudit appends e. The request may be gone (a client that hung up): the entry is written
// anyway.
func (s *Server) writeAudit(r *http.Request, st store.TrustStore, e store.AuditEntry) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	if err := st.AddAudit(ctx, e); err != nil {
		s.log.Error("audit entry not written", "action", e.Action, "who", e.Who, "err", err)
	}
}

// auditTarget names what an action was about: the route's id or name, else what the answer
// names (the id of a new distribution, the origin whose limits changed).
func auditTarget(r *http.Request, status int, body []byte) string {
	for _, k := range []string{"id", "name"} {
		if v := r.PathValue(k); v != "" {
			return v
		}
	}
	if status >= 300 || len(body) == 0 || body[0] != '{' {
		return ""
	}
	var named struct {
		ID     string `json:"id"`
		Name   string `json:"name"`
		Origin string `json:"origin"`
	}
	if json.Unmarshal(body, &named) != nil {
		return ""
	}
	switch {
	case named.ID != "":
		return named.ID
	case named.Origin != "":
		return named.Origin
	}
	return named.Name
}

// listAudit answers GET /v1/audit?limit=N, newest first.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) error {
	limit := 1000
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return badRequest("limit %q is not a count: use a number, 0 for all", v)
		}
		limit = n
	}
	st := s.trust.tokens.st
	if st == nil {
		writeJSON(w, http.StatusOK, []store.AuditEntry{})
		return nil
	}
	es, err := st.Audit(r.Context(), limit)
	if err != nil {
		return err
	}
	if es == nil {
		es = []store.AuditEntry{}
	}
	writeJSON(w, http.StatusOK, es)
	return nil
}
