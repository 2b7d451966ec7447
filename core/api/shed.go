package api

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// Retry-After handling: a controller beyond its limit answers 429 with Retry-After, and a host
// waits that long, spread by jitter so that the hosts it turned away do not all come back at once.

// maxRetryAfter bounds how long one Retry-After makes a host wait.
const maxRetryAfter = time.Minute

// retryAfter reads the Retry-After of a 429 answer (delay-seconds; an HTTP date is read too);
// 1 s when it is missing or unreadable.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := h.Get("Retry-After")
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return min(time.Duration(s)*time.Second, maxRetryAfter)
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), maxRetryAfter)
	}
	return time.Second
}

// RetryAfter answers how long to wait before asking again when err is a 429 answer.
func RetryAfter(err error) (time.Duration, bool) {
	var se *StatusError
	if errors.As(err, &se) && se.Status == http.StatusTooManyRequests {
		return se.RetryAfter, true
	}
	return 0, false
}

// Jitter answers a wait between d/2 and 3d/2.
func Jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d+1)
}

// waitCtx waits d or until ctx ends, answering false when it ended.
func waitCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// getRetries bounds how often a GET turned away with 429 is asked again before the answer is
// handed to the caller.
const getRetries = 4

// ReportFresh sends the report state builds. When the controller sheds load (429) it waits the
// Retry-After with jitter and sends a fresh one, so the state it finally sends is the latest:
// reports are level-triggered and a turned-away one loses nothing. It gives up when ctx ends.
func (c *Client) ReportFresh(ctx context.Context, state func() Report) error {
	for {
		err := c.Report(ctx, state())
		d, shed := RetryAfter(err)
		if !shed {
			return err
		}
		if !waitCtx(ctx, Jitter(d)) {
			return err
		}
	}
}
