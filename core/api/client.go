package api

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"time"

	"dist/core/pki"
)

// StatusError is a non-2xx answer from a dist server.
type StatusError struct {
	Status int
	Code   string
	Msg    string
	// RetryAfter is the wait a 429 answer asked for (Retry-After); 0 otherwise.
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	if e.Msg != "" {
		return e.Msg
	}
	return fmt.Sprintf("server answered %d %s", e.Status, http.StatusText(e.Status))
}

// UnreachableError means the server could not be reached at all.
type UnreachableError struct {
	URL string
	Err error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach %s: %v", e.URL, e.Err)
}
func (e *UnreachableError) Unwrap() error { return e.Err }

// UntrustedError is a server reached whose certificate the client does not trust, or an https://
// URL that reached a plain HTTP server.
type UntrustedError struct {
	URL string
	Err error
}

func (e *UntrustedError) Error() string {
	if speaksPlain(e.Err) {
		return fmt.Sprintf("%s does not speak TLS: it runs --insecure-plain-http, give http://… (or run it with TLS)", e.URL)
	}
	return fmt.Sprintf("%s is not trusted (%v): give --ca-file FILE (the controller's <data>/pki/ca.crt) or --ca-fingerprint sha256:… as the controller logged it (env DIST_CA_FILE, DIST_CA_FINGERPRINT)", e.URL, tlsCause(e.Err))
}

func (e *UntrustedError) Unwrap() error { return e.Err }

// untrusted answers an UntrustedError when err is a refused server certificate, else nil.
func untrusted(base string, err error) *UntrustedError {
	var (
		cv *tls.CertificateVerificationError
		ua x509.UnknownAuthorityError
		he x509.HostnameError
		ci x509.CertificateInvalidError
		rh tls.RecordHeaderError
		pu *pki.UntrustedError
	)
	if errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci) || errors.As(err, &pu) ||
		(strings.HasPrefix(base, "https://") && (errors.As(err, &rh) || speaksPlain(err))) {
		return &UntrustedError{URL: base, Err: err}
	}
	return nil
}

// speaksPlain reports whether err is an https:// request answered in plain HTTP (net/http says
// so in words only).
func speaksPlain(err error) bool {
	var rh tls.RecordHeaderError
	return errors.As(err, &rh) || strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")
}

// tlsCause is the innermost reason of a TLS failure, without the request line around it.
func tlsCause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// IsCode reports whether err is a StatusError with the given code.
func IsCode(err error, code string) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == code
}

// Client talks to a dist server (the controller API, or a daemon's LocalAPI) with a bearer token.
type Client struct {
	Base  string // e.g. http://127.0.0.1:7700 ; for a unix socket use NewLocal; NewMulti: the first address
	Token string
	// HTTP sends the requests; one whose Transport is nil uses NewTransport's (HTTP/2 to the
	// controller, one connection for all of a host's calls), not http.DefaultTransport.
	HTTP *http.Client
	// Log receives one line each time a client over several addresses (NewMulti) carries on
	// through another controller than the one that answered before; nil: no line.
	Log *slog.Logger

	pool *pool // NewMulti's addresses; nil: Base alone
}

// New returns a client for the controller at base.
func New(base, token string) *Client {
	return &Client{Base: strings.TrimRight(base, "/"), Token: token, HTTP: &http.Client{Timeout: 0}}
}

// NewLocal returns a client for the LocalAPI listening on a unix socket (a named pipe on Windows).
func NewLocal(socket string) *Client {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return dialLocal(ctx, socket) // a named pipe on Windows
	}}
	return &Client{Base: "http://local", HTTP: &http.Client{Transport: tr}}
}

// Do sends a JSON request and decodes a JSON answer into out (when out is not nil).
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = b
	}
	decoded := false
	return c.exchange(ctx, method, path, body, in != nil, func(base string, resp *http.Response) error {
		if out == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			return nil
		}
		if decoded {
			// An answer broken off half-way may have filled part of out: the next address's
			// answer starts from nothing.
			if v := reflect.ValueOf(out); v.Kind() == reflect.Pointer && !v.IsNil() {
				v.Elem().SetZero()
			}
		}
		decoded = true
		// A broken or hostile server must not fill this process's memory: the largest legal answer
		// (a full listing of distributions with their assignments, or a watch) is far below this.
		const maxAnswer = 256 << 20
		lr := &io.LimitedReader{R: resp.Body, N: maxAnswer}
		if err := json.NewDecoder(lr).Decode(out); err != nil {
			if lr.N > 0 && brokenOff(err) {
				// The connection broke in the answer (a controller killed mid-watch): the server
				// is gone, not wrong.
				return &UnreachableError{URL: base, Err: fmt.Errorf("read answer of %s %s: %w", method, path, err)}
			}
			return fmt.Errorf("decode answer of %s %s (at most %d bytes): %w", method, path, maxAnswer, err)
		}
		return nil
	})
}

// brokenOff reports whether a JSON decode failed because the body stopped, not because it was
// not JSON.
func brokenOff(err error) bool {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		inv *json.InvalidUnmarshalError
	)
	return !errors.As(err, &syn) && !errors.As(err, &typ) && !errors.As(err, &inv) && !errors.Is(err, io.EOF)
}

// exchange sends one request, through the pool's addresses when the client has several (multi.go),
// and hands a 2xx answer to read.
func (c *Client) exchange(ctx context.Context, method, path string, body []byte, isJSON bool, read func(base string, resp *http.Response) error) error {
	if c.pool == nil {
		return c.attempt(ctx, c.Base, method, path, body, isJSON, read)
	}
	return c.pool.do(ctx, c.Log, method, path, func(base string) error {
		return c.attempt(ctx, base, method, path, body, isJSON, read)
	})
}

// attempt sends the request to one base URL.
func (c *Client) attempt(ctx context.Context, base, method, path string, body []byte, isJSON bool, read func(base string, resp *http.Response) error) error {
	newReq := func() (*http.Request, error) {
		var r io.Reader
		if body != nil {
			r = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, method, base+path, r)
		if err != nil {
			return nil, fmt.Errorf("build request: %w", err)
		}
		if isJSON {
			req.Header.Set("Content-Type", "application/json")
		}
		if c.Token != "" {
			req.Header.Set("Authorization", "Bearer "+c.Token)
		}
		return req, nil
	}
	req, err := newReq()
	if err != nil {
		return err
	}
	resp, err := c.send(ctx, base, req)
	// A GET turned away by a controller shedding load is asked again after its Retry-After, with
	// jitter; other methods hand the 429 to their caller, who knows what to send again.
	for n := 0; method == http.MethodGet && n < getRetries; n++ {
		d, shed := RetryAfter(err)
		if !shed || !waitCtx(ctx, Jitter(d)) {
			break
		}
		if req, err = newReq(); err != nil {
			return err
		}
		resp, err = c.send(ctx, base, req)
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return read(base, resp)
}

// CreateDistribution stores a distribution and answers with it (state pending).
func (c *Client) CreateDistribution(ctx context.Context, req CreateDistribution) (Distribution, error) {
	var d Distribution
	err := c.Do(ctx, http.MethodPost, "/v1/distributions", req, &d)
	return d, err
}

// Distributions lists distributions, newest first.
func (c *Client) Distributions(ctx context.Context) ([]Distribution, error) {
	var ds []Distribution
	err := c.Do(ctx, http.MethodGet, "/v1/distributions", nil, &ds)
	return ds, err
}

// Distribution returns one distribution with its assignments.
func (c *Client) Distribution(ctx context.Context, id string) (Distribution, error) {
	var d Distribution
	err := c.Do(ctx, http.MethodGet, "/v1/distributions/"+url.PathEscape(id), nil, &d)
	return d, err
}

// Hosts lists the hosts known to the controller.
func (c *Client) Hosts(ctx context.Context) ([]Host, error) {
	var hs []Host
	err := c.Do(ctx, http.MethodGet, "/v1/hosts", nil, &hs)
	return hs, err
}

// Register announces (or refreshes) a host.
func (c *Client) Register(ctx context.Context, h Host) error {
	return c.Do(ctx, http.MethodPost, "/v1/hosts", h, nil)
}

// Watch long-polls for the host's tasks; it answers at once when version differs from the
// controller's current one, else when something changes or after the server's poll timeout.
func (c *Client) Watch(ctx context.Context, host, version string) (Watch, error) {
	var w Watch
	q := url.Values{"host": {host}, "version": {version}}
	err := c.Do(ctx, http.MethodGet, "/v1/watch?"+q.Encode(), nil, &w)
	return w, err
}

// Report sends the state of the host's tasks.
func (c *Client) Report(ctx context.Context, r Report) error {
	return c.Do(ctx, http.MethodPost, "/v1/report", r, nil)
}

// Peers asks the tracker for the swarm of a distribution, as seen by host.
func (c *Client) Peers(ctx context.Context, distID, host string) ([]Peer, error) {
	var p Peers
	q := url.Values{"host": {host}}
	err := c.Do(ctx, http.MethodGet, "/v1/distributions/"+url.PathEscape(distID)+"/peers?"+q.Encode(), nil, &p)
	return p.Peers, err
}

// MetainfoPath is the controller's route of a metainfo by the SHA-256 of its bytes.
const MetainfoPath = "/v1/metainfo/"

// Metainfo fetches the metainfo whose bytes hash to sum (Task.MetainfoSHA256) and checks them.
// The answer never changes for one sum, so a host fetches it once.
func (c *Client) Metainfo(ctx context.Context, sum string) ([]byte, error) {
	var b []byte
	err := c.exchange(ctx, http.MethodGet, MetainfoPath+url.PathEscape(sum), nil, false, func(base string, resp *http.Response) error {
		var err error
		if b, err = io.ReadAll(io.LimitReader(resp.Body, maxMetainfo+1)); err != nil {
			return &UnreachableError{URL: base, Err: fmt.Errorf("read metainfo %s: %w", sum, err)}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := checkMetainfo(b, sum, "the controller"); err != nil {
		return nil, err
	}
	return b, nil
}

// maxMetainfo bounds a fetched metainfo: 64 MiB holds the piece hashes of any file dist moves.
const maxMetainfo = 64 << 20

// send sends req and turns a non-2xx answer into a StatusError, an unreachable server into an
// UnreachableError.
func (c *Client) send(ctx context.Context, base string, req *http.Request) (*http.Response, error) {
	hc := c.HTTP
	switch {
	case hc == nil:
		hc = &http.Client{Transport: defaultTransport}
	case hc.Transport == nil:
		withTransport := *hc
		withTransport.Transport = defaultTransport
		hc = &withTransport
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if ut := untrusted(base, err); ut != nil {
			return nil, ut
		}
		return nil, &UnreachableError{URL: base, Err: err}
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, statusError(resp)
	}
	return resp, nil
}

// statusError reads the JSON error of a non-2xx answer.
func statusError(resp *http.Response) *StatusError {
	var e Error
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &e) != nil || e.Error == "" {
		e.Error = strings.TrimSpace(string(b))
	}
	se := &StatusError{Status: resp.StatusCode, Code: e.Code, Msg: e.Error}
	if resp.StatusCode == http.StatusTooManyRequests {
		se.RetryAfter = retryAfter(resp.Header, time.Now())
	}
	return se
}

// PutMetainfo publishes the metainfo a relay computed for a URL source.
func (c *Client) PutMetainfo(ctx context.Context, distID string, metainfo []byte) error {
	return c.Do(ctx, http.MethodPut, "/v1/distributions/"+url.PathEscape(distID)+"/metainfo", metainfo, nil)
}

// Publish asks the local daemon to publish a local file.
func (c *Client) Publish(ctx context.Context, p Publish) (Published, error) {
	var out Published
	err := c.Do(ctx, http.MethodPost, "/v1/publish", p, &out)
	return out, err
}

// Status returns the local daemon's own view.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	err := c.Do(ctx, http.MethodGet, "/v1/status", nil, &s)
	return s, err
}

// WatchPollTimeout is the longest the controller holds a watch request open when nothing
// changes; WatchHold is how long it holds one host's.
const WatchPollTimeout = 25 * time.Second

// watchHoldSpread is how much shorter than WatchPollTimeout a host's hold may be.
const watchHoldSpread = 5 * time.Second

// WatchHold is how long the controller holds host's watch when nothing changes: between
// WatchPollTimeout less 5 s and WatchPollTimeout, fixed per host name. A change wakes a whole
// fleet's watches in the same second; with one hold for all they would all come back together
// at every timeout from then on, and the controller would take ten thousand watches in one
// second every 25 s.
func WatchHold(host string) time.Duration {
	h := fnv.New32a()
	_, _ = h.Write([]byte(host))
	return WatchPollTimeout - time.Duration(h.Sum32()%uint32(watchHoldSpread/time.Millisecond))*time.Millisecond
}

// JoinPath is the controller's route where a host trades a join token, or to renew its current
// certificate, for a host certificate.
const JoinPath = "/v1/join"

// JoinRequest asks for a host certificate: the host's name and a PEM certificate request over
// its key (the key never leaves the host).
type JoinRequest struct {
	Name string `json:"name"`
	CSR  string `json:"csr"`
}

// JoinAnswer is the signed host certificate and the CA that signed it, both PEM.
type JoinAnswer struct {
	Cert string `json:"cert"`
	CA   string `json:"ca"`
}

// Join trades the client's token (or its certificate) for a host certificate.
func (c *Client) Join(ctx context.Context, req JoinRequest) (JoinAnswer, error) {
	var a JoinAnswer
	err := c.Do(ctx, http.MethodPost, JoinPath, req, &a)
	return a, err
}
