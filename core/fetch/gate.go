package fetch

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Gate admits traffic to an origin. Every byte fetched from an origin passes one: the controller's
// lease (connections, rate, bytes) stands behind it, so a fleet cannot exceed the origin's limits.
// Fetches from relays and peers pass no gate.
//
// The fetchers here take a connection with Conn around each request and, before sending it, Wait
// for all the bytes the request asks for. Charging the whole range before asking (rather than each
// read) is what keeps the origin's own count exact: an origin counts what it sends, and it sends
// ahead into socket buffers whatever the reader's pace. What the origin surely did not send (an
// error answer, the rest of a body it ended short) goes back through the optional Refunder, so
// failed attempts do not spend the origin's byte budget.
type Gate interface {
	// Conn blocks until one more connection to the origin may be open; release gives it back.
	Conn(ctx context.Context) (release func(), err error)
	// Wait blocks until n more bytes may be read from the origin (rate and byte budget).
	Wait(ctx context.Context, n int) error
}

// ErrRetry, wrapped in an error from a Gate, tells the fetcher to give its connection back and
// ask again: the admission changed under it (a lease shrank or was lost). It is not the origin's
// fault, so it costs no retry attempt.
var ErrRetry = errors.New("origin admission changed: ask again")

// ConnContexter is a Gate that can stop the requests it admitted: the context it returns ends
// when the admission does (a lease about to expire unrenewed). Fetchers send the request with it.
type ConnContexter interface {
	ConnContext(ctx context.Context) (context.Context, func(), error)
}

// Observer is a Gate that wants to hear how the origin answered: the status of each answer (0 when
// none came) and the time to its headers. The controller backs off on 429, 5xx and slow answers.
type Observer interface {
	Observe(status int, latency time.Duration)
}

// Sizer is a Gate that bounds how many bytes one request may ask for, so that a request ends
// well within its lease.
type Sizer interface {
	RequestSize() int64
}

// Refunder is a Gate that takes back bytes it admitted which the origin did not send: those of an
// error answer (or of none) and the rest of a body the origin ended short. Fetchers call Refund
// after such a request, before giving its connection back. Bytes of an answer the fetcher stopped
// reading are never refunded: the origin may have sent them ahead, and counted them.
type Refunder interface {
	Refund(n int)
}

// refund gives n unsent bytes back to g when it takes them.
func refund(g Gate, n int64) {
	if r, ok := g.(Refunder); ok && n > 0 {
		r.Refund(int(n))
	}
}

// admit takes a connection for a request of n bytes from g: the context to send it with, the
// function that gives the connection back, and how many of the n bytes to ask for in this request.
func admit(ctx context.Context, g Gate, n int64) (context.Context, func(), int64, error) {
	if g == nil {
		return ctx, func() {}, n, nil
	}
	if s, ok := g.(Sizer); ok {
		if m := s.RequestSize(); m > 0 {
			n = min(n, m)
		}
	}
	var (
		rctx    = ctx
		release func()
		err     error
	)
	if cc, ok := g.(ConnContexter); ok {
		rctx, release, err = cc.ConnContext(ctx)
	} else {
		release, err = g.Conn(ctx)
	}
	if err != nil {
		return ctx, nil, 0, err
	}
	if err := g.Wait(rctx, int(n)); err != nil {
		release()
		if ctx.Err() == nil && rctx.Err() != nil {
			// The gate ended the admission while we waited: not the caller's doing.
			return ctx, nil, 0, fmt.Errorf("origin admission ended: %w", ErrRetry)
		}
		return ctx, nil, 0, err
	}
	return rctx, release, n, nil
}

// observe tells g, when it listens, how the origin answered a request sent at start.
func observe(g Gate, start time.Time, err error) {
	o, ok := g.(Observer)
	if !ok {
		return
	}
	status := 0
	var se *SourceError
	switch {
	case err == nil:
		status = 206
	case errors.As(err, &se):
		status = se.Status
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return // our own doing, not the origin's
	}
	o.Observe(status, time.Since(start))
}

// gateRetry reports whether err asks the fetcher to come back to the gate.
func gateRetry(err error) bool { return errors.Is(err, ErrRetry) }
