package cli

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"dist/core/store"
	"dist/daemon/controller"
)

// TokenCmd manages the controller's named operator tokens (admin only).
type TokenCmd struct {
	Create TokenCreateCmd `cmd:"" help:"Create a named token with a role and print its secret once."`
	Ls     TokenLsCmd     `cmd:"" help:"List named tokens: name, role, expiry (never their secrets)."`
	Revoke TokenRevokeCmd `cmd:"" help:"Revoke a named token: it is refused from now on."`
}

// TokenCreateCmd creates a named token.
type TokenCreateCmd struct {
	Name string `required:"" help:"Name of the token, as the audit trail shows it (letters, digits, -_.@)." placeholder:"NAME"`
	Role string `required:"" enum:"read,operate,admin,join" help:"read: ls, show, report, hosts, top; operate: also push and cancel; admin: also origin limits, tokens, audit, backup; join: lets a new host join." placeholder:"ROLE"`
	TTL  string `name:"ttl" help:"Lifetime, e.g. 12h or 30d; default: 1h for join tokens, none for the others." placeholder:"DURATION"`
}

// Run creates the token and prints its secret alone on stdout (or the JSON object): it is never
// shown again.
func (c *TokenCreateCmd) Run(g *Globals) error {
	req := controller.TokenRequest{Name: c.Name, Role: c.Role}
	if c.TTL != "" {
		d, err := parseTTL(c.TTL)
		if err != nil {
			return usageError{fmt.Errorf("--ttl: %w", err)}
		}
		req.TTLSeconds = int64(d / time.Second)
	}
	var out controller.TokenCreated
	if err := g.API().Do(g.Context(), http.MethodPost, "/v1/tokens", req, &out); err != nil {
		return fmt.Errorf("create token %s: %w", c.Name, err)
	}
	if g.JSON {
		return g.PrintJSON(out)
	}
	expiry := "never expires"
	if !out.ExpiresAt.IsZero() {
		expiry = "expires " + formatTime(out.ExpiresAt)
	}
	g.Notef("token %s (role %s, %s): store the secret now, it is not shown again", out.Name, out.Role, expiry)
	_, err := fmt.Fprintln(g.Out, out.Secret)
	return err
}

// parseTTL reads a Go duration, or a whole number of days such as 30d.
func parseTTL(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days <= 0 {
			return 0, fmt.Errorf("%q is not a lifetime: use e.g. 12h or 30d", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Second {
		return 0, fmt.Errorf("%q is not a lifetime: use e.g. 12h or 30d (at least 1s)", s)
	}
	return d, nil
}

// TokenLsCmd lists the named tokens.
type TokenLsCmd struct{}

// Run prints the tokens as a table, or the API's JSON array.
func (c *TokenLsCmd) Run(g *Globals) error {
	var ts []store.Token
	if err := g.API().Do(g.Context(), http.MethodGet, "/v1/tokens", nil, &ts); err != nil {
		return fmt.Errorf("list tokens: %w", err)
	}
	if g.JSON {
		if ts == nil {
			ts = []store.Token{}
		}
		return g.PrintJSON(ts)
	}
	now := time.Now()
	t := newTable("NAME", "ROLE", "CREATED", "EXPIRES", "BY")
	for _, tok := range ts {
		expires := "never"
		switch {
		case tok.Expired(now):
			expires = "expired"
		case !tok.ExpiresAt.IsZero():
			expires = formatTime(tok.ExpiresAt)
		}
		t.add(tok.Name, tok.Role, formatTime(tok.CreatedAt), expires, orDash(tok.CreatedBy))
	}
	return t.write(g.Out, g.OutColor())
}

// TokenRevokeCmd revokes a named token.
type TokenRevokeCmd struct {
	Name string `arg:"" help:"Name of the token (see dist token ls)."`
}

// Run revokes the token; it is refused from the next request on.
func (c *TokenRevokeCmd) Run(g *Globals) error {
	err := g.API().Do(g.Context(), http.MethodDelete, "/v1/tokens/"+url.PathEscape(c.Name), nil, nil)
	switch {
	case statusIsNotFound(err):
		return exitError{code: ExitNotFound, msg: "no such token: " + c.Name + ": see dist token ls", err: err}
	case err != nil:
		return fmt.Errorf("revoke token %s: %w", c.Name, err)
	}
	if g.JSON {
		return g.PrintJSON(map[string]string{"revoked": c.Name})
	}
	_, err = fmt.Fprintf(g.Out, "token %s revoked\n", c.Name)
	return err
}
