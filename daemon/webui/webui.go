// Package webui serves a read-only status page of the controller at /ui: the distributions with
// progress, rate, ETA and bytes by source; one distribution's hosts with state, mode, reason and
// progress; origin limits with their gauges; recent events. It renders what `dist top` shows,
// from the same snapshot code (tui.Source), as server-rendered HTML; a few lines of script poll
// /ui/snapshot.json to refresh it.
//
// Access is the admin token's, as for the API: an operator signs in once with the token (a form),
// or follows a one-time link made with the token (POST /ui/ticket, for scripts and tests); the
// browser then holds a session cookie derived from the token.
package webui

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"encoding/json"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"dist/tui"
)

//go:embed page.html
var files embed.FS

var page = template.Must(template.New("page.html").Funcs(template.FuncMap{
	"size":    tui.SizeText,
	"rate":    tui.RateText,
	"span":    tui.SpanText,
	"percent": tui.PercentText,
	"width":   func(f float64) string { return tui.PercentText(f) },
	"clock":   func(t time.Time) string { return t.Format("15:04:05") },
	"limit": func(unit string, v float64) string {
		switch unit {
		case tui.UnitRate:
			return tui.RateText(v)
		case tui.UnitBytes:
			return tui.SizeText(int64(v))
		}
		return strconv.FormatFloat(v, 'f', 0, 64)
	},
}).ParseFS(files, "page.html"))

// Config sets up the page.
type Config struct {
	// AdminToken is the credential the page accepts (the controller's admin token).
	AdminToken string
	// Source fills the snapshots (tui.NewController over the controller's own API).
	Source tui.Source
	// TicketTTL bounds a one-time link's life; 0: one minute.
	TicketTTL time.Duration
}

// Handler serves /ui and below.
type Handler struct {
	cfg Config
	mux *http.ServeMux

	mu      sync.Mutex // one snapshot at a time: the source keeps rate history
	tickets map[string]time.Time
}

const cookieName = "dist_ui"

// New answers the handler of /ui.
func New(cfg Config) *Handler {
	if cfg.TicketTTL <= 0 {
		cfg.TicketTTL = time.Minute
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux(), tickets: map[string]time.Time{}}
	h.mux.HandleFunc("GET /ui", h.page)
	h.mux.HandleFunc("GET /ui/snapshot.json", h.snapshotJSON)
	h.mux.HandleFunc("POST /ui/login", h.login)
	h.mux.HandleFunc("GET /ui/login", h.ticketLogin)
	h.mux.HandleFunc("POST /ui/ticket", h.ticket)
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline' 'self'")
	h.mux.ServeHTTP(w, r)
}

// session is the cookie value: derived from the token, so a changed token ends every session.
func (h *Handler) session() string {
	m := hmac.New(sha256.New, []byte(h.cfg.AdminToken))
	m.Write([]byte("dist web ui session"))
	return hex.EncodeToString(m.Sum(nil))
}

func (h *Handler) authorized(r *http.Request) bool {
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return subtle.ConstantTimeCompare([]byte(tok), []byte(h.cfg.AdminToken)) == 1
	}
	c, err := r.Cookie(cookieName)
	return err == nil && subtle.ConstantTimeCompare([]byte(c.Value), []byte(h.session())) == 1
}

func (h *Handler) setSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: h.session(), Path: "/ui", HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
}

// login takes the token from the sign-in form.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	tok := r.PostFormValue("token")
	if subtle.ConstantTimeCompare([]byte(tok), []byte(h.cfg.AdminToken)) != 1 {
		w.WriteHeader(http.StatusUnauthorized)
		h.render(w, view{Login: true, Err: "that token is not the controller's admin token"})
		return
	}
	h.setSession(w, r)
	http.Redirect(w, r, "/ui", http.StatusSeeOther)
}

// ticket makes a one-time sign-in link for a caller holding the token.
func (h *Handler) ticket(w http.ResponseWriter, r *http.Request) {
	if !h.authorized(r) {
		http.Error(w, "the admin token is needed", http.StatusUnauthorized)
		return
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	t := hex.EncodeToString(b)
	now := time.Now()
	h.mu.Lock()
	for k, exp := range h.tickets {
		if now.After(exp) {
			delete(h.tickets, k)
		}
	}
	h.tickets[t] = now.Add(h.cfg.TicketTTL)
	h.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"path": "/ui/login?ticket=" + t})
}

// ticketLogin signs a browser in with a one-time link.
func (h *Handler) ticketLogin(w http.ResponseWriter, r *http.Request) {
	t := r.URL.Query().Get("ticket")
	h.mu.Lock()
	exp, ok := h.tickets[t]
	delete(h.tickets, t)
	h.mu.Unlock()
	if !ok || time.Now().After(exp) {
		w.WriteHeader(http.StatusUnauthorized)
		h.render(w, view{Login: true, Err: "that sign-in link is used or expired: sign in with the token"})
		return
	}
	h.setSession(w, r)
	http.Redirect(w, r, "/ui", http.StatusSeeOther)
}

// view is what the template renders.
type view struct {
	Login bool
	Err   string
	Snap  tui.Snapshot
	Dist  string // the distribution whose hosts are shown
}

func (h *Handler) fetch(ctx context.Context, dist string) (tui.Snapshot, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return h.cfg.Source.Fetch(ctx, dist)
}

// current picks the distribution to show the hosts of: the one asked for, else the newest live
// one, else the newest.
func current(s tui.Snapshot, asked string) string {
	if asked != "" {
		return asked
	}
	for _, d := range s.Dists {
		if !d.State.Ended() {
			return d.ID
		}
	}
	if len(s.Dists) > 0 {
		return s.Dists[0].ID
	}
	return ""
}

func (h *Handler) page(w http.ResponseWriter, r *http.Request) {
	if !h.authorized(r) {
		h.render(w, view{Login: true})
		return
	}
	dist := r.URL.Query().Get("dist")
	snap, err := h.fetch(r.Context(), "")
	if err == nil {
		if dist = current(snap, dist); dist != "" {
			snap, err = h.fetch(r.Context(), dist)
		}
	}
	v := view{Snap: snap, Dist: dist}
	if err != nil {
		v.Err = err.Error()
	}
	h.render(w, v)
}

func (h *Handler) snapshotJSON(w http.ResponseWriter, r *http.Request) {
	if !h.authorized(r) {
		http.Error(w, "sign in at /ui", http.StatusUnauthorized)
		return
	}
	dist := r.URL.Query().Get("dist")
	snap, err := h.fetch(r.Context(), dist)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(struct {
		tui.Snapshot
		HTML string `json:"html"`
	}{snap, h.fragment(view{Snap: snap, Dist: dist})})
}

// fragment renders the page's body alone, which the script swaps in at each refresh.
func (h *Handler) fragment(v view) string {
	var b strings.Builder
	if err := page.ExecuteTemplate(&b, "body", v); err != nil {
		return "<p class=err>" + template.HTMLEscapeString(err.Error()) + "</p>"
	}
	return b.String()
}

func (h *Handler) render(w http.ResponseWriter, v view) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = page.Execute(w, v)
}
