package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Pull downloads a file of known size in chunks over parallel Range requests.
// Each worker holds one Chunk-sized buffer, and a chunk reaches Dst only once
// all its bytes came in valid answers, so a bad or partial answer never lands
// in the file. A 4xx answer (but 408 and 429), or one that is not the requested
// range, is final at once and matches ErrSourceGone, ErrSourceRefused or
// ErrSourceChanged; 5xx, 408, 429, short bodies and network errors are retried,
// a bounded number of times within a bounded time, after a back-off that is at
// least the origin's Retry-After.
//
// A Pull holds to one version of the file: Validator's, or the first answer's.
// Every later request carries If-Match (a strong ETag) or If-Range (the
// Last-Modified date, when the ETag is weak or missing), and every answer must
// state the same validators and size; any other answer ends the Pull with an
// error matching ErrSourceChanged before its bytes reach Dst. An origin that
// sends neither ETag nor Last-Modified can only be checked by the file size:
// a change that keeps the size goes unnoticed, and only an end-to-end checksum
// of the file can tell.
type Pull struct {
	URL     string
	Client  *http.Client // nil: http.DefaultClient
	Size    int64        // file size, as Probe reported it
	Chunk   int64        // bytes per request (callers use a multiple of the piece length)
	Workers int          // parallel connections; 0: 4
	Dst     io.WriterAt

	// Have reports a chunk already present (resume); it is skipped.
	Have func(chunk int) bool
	// Next hands out the chunk to fetch next (demand-driven order) and false
	// when there is none left; nil: every chunk in ascending order.
	// Have and Next are never called concurrently.
	Next func() (chunk int, ok bool)
	// OnChunk runs after a chunk was written to Dst, concurrently for
	// different chunks; data is valid only during the call.
	OnChunk func(chunk int, data []byte) error
	// Holes, when set, answers the byte ranges of chunk c that are not fetched, because their
	// content is known to be zeros (sorted, disjoint, absolute offsets; clipped to the chunk).
	// They read as zeros in the data OnChunk sees, and Dst is not written there, so a sparse Dst
	// keeps its holes. A chunk that is all holes is still handed to OnChunk; skip it with Have.
	Holes func(chunk int) []Span

	// Gate, when set, admits every request (the origin's lease); nil: none.
	Gate Gate

	// Validator is the version of the file to hold to, as ProbeValidator or an earlier Pull's
	// Pinned reported it; zero: the version of the first answer.
	Validator Validator

	Retries int                             // retries per chunk after the first attempt; 0: 3, negative: none
	Backoff func(attempt int) time.Duration // wait before retry attempt (1, 2, ...); nil: DefaultBackoff
	// RetryFor bounds the time a chunk spends failing, back-offs included: a chunk still failing
	// that long after its first failure, or whose next wait would end later, gives up. 0: DefaultRetryFor.
	RetryFor time.Duration
	// Stall is how long a request may go without a byte (headers included) before it is dropped
	// and retried; 0: DefaultStall.
	Stall time.Duration

	bytes atomic.Int64
	pin   atomic.Pointer[pin]
}

// Span is a byte range of the file.
type Span struct{ Off, Len int64 }

// DefaultRetryFor is how long a chunk may keep failing when Pull.RetryFor is 0: long enough for
// an origin that asks to wait (Retry-After, at most MaxRetryAfter) to be waited for.
const DefaultRetryFor = 10 * time.Minute

// DefaultStall is Pull.Stall when it is 0.
const DefaultStall = time.Minute

// errStalled is the cause of a request dropped for sending nothing for Pull.Stall.
var errStalled = errors.New("origin stalled")

// Pinned returns the version of the file the Pull holds to: Validator, or the first answer's once
// one came (zero before, and when the origin sends no validator). Give it to the next Pull of the
// same file (Validator) so that a resumed transfer refuses another version too.
func (p *Pull) Pinned() Validator {
	v, _ := p.pin.Load().get()
	return v
}

// DefaultBackoff is a capped exponential back-off with jitter, so that many
// fetchers hit by one origin hiccup do not come back in step.
func DefaultBackoff(attempt int) time.Duration {
	const (
		base     = 200 * time.Millisecond
		maxDelay = 10 * time.Second
	)
	d := maxDelay
	if attempt < 1 {
		attempt = 1
	}
	if attempt <= 6 {
		d = min(base<<(attempt-1), maxDelay)
	}
	return d/2 + rand.N(d/2+1)
}

// Bytes returns how many bytes came from the network so far, including
// those of answers that later failed.
func (p *Pull) Bytes() int64 { return p.bytes.Load() }

// Chunks returns the number of chunks of the file.
func (p *Pull) Chunks() int {
	if p.Chunk <= 0 || p.Size <= 0 {
		return 0
	}
	return int((p.Size + p.Chunk - 1) / p.Chunk)
}

// Run fetches every chunk not already present. When a chunk runs out of
// retries (or fails for good) Run cancels the others and returns that chunk's
// last error; when ctx ends first it returns ctx's error.
func (p *Pull) Run(ctx context.Context) error {
	switch {
	case p.URL == "":
		return errors.New("pull: URL is empty")
	case p.Dst == nil:
		return fmt.Errorf("pull %s: destination is nil", p.URL)
	case p.Size < 0:
		return fmt.Errorf("pull %s: size %d is negative", p.URL, p.Size)
	case p.Chunk <= 0:
		return fmt.Errorf("pull %s: chunk size %d is not positive", p.URL, p.Chunk)
	}
	chunks := p.Chunks()
	if chunks == 0 {
		return nil
	}
	workers := p.Workers
	if workers <= 0 {
		workers = 4
	}
	workers = min(workers, chunks)
	p.pin.Store(newPin(p.Validator))

	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var (
		pickMu sync.Mutex
		next   int

		errMu    sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		errMu.Lock()
		defer errMu.Unlock()
		if firstErr == nil {
			firstErr = err
			cancel()
		}
	}
	// pick hands out the next chunk to fetch. Each turn of its loop consumes a
	// chunk, so it ends with the chunks, with Next, or with ctx.
	pick := func() (int, bool, error) {
		pickMu.Lock()
		defer pickMu.Unlock()
		for ctx.Err() == nil {
			var c int
			if p.Next != nil {
				var ok bool
				if c, ok = p.Next(); !ok {
					return 0, false, nil
				}
				if c < 0 || c >= chunks {
					return 0, false, fmt.Errorf("pull %s: next chunk %d is outside 0-%d", p.URL, c, chunks-1)
				}
			} else {
				if next >= chunks {
					return 0, false, nil
				}
				c = next
				next++
			}
			if p.Have == nil || !p.Have(c) {
				return c, true, nil
			}
		}
		return 0, false, nil
	}

	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			// One buffer per worker, reused for every chunk it fetches.
			buf := make([]byte, p.Chunk)
			for {
				c, ok, err := pick()
				if err != nil {
					fail(err)
					return
				}
				if !ok {
					return
				}
				off := int64(c) * p.Chunk
				data := buf[:min(p.Chunk, p.Size-off)]
				segs := p.segments(c, off, data)
				for _, s := range segs {
					if err := p.fetchChunk(ctx, c, s.Off, data[s.Off-off:s.Off-off+s.Len]); err != nil {
						if ctx.Err() == nil {
							fail(err)
						}
						return
					}
				}
				if ctx.Err() != nil {
					return // the pull failed meanwhile: nothing more reaches Dst
				}
				for _, s := range segs {
					if _, err := p.Dst.WriteAt(data[s.Off-off:s.Off-off+s.Len], s.Off); err != nil {
						fail(fmt.Errorf("pull %s: write chunk %d at offset %d: %w", p.URL, c, s.Off, err))
						return
					}
				}
				if p.OnChunk != nil {
					if err := p.OnChunk(c, data); err != nil {
						fail(fmt.Errorf("pull %s: chunk %d: %w", p.URL, c, err))
						return
					}
				}
			}
		})
	}
	wg.Wait()

	if firstErr != nil {
		return firstErr
	}
	if err := parent.Err(); err != nil {
		return fmt.Errorf("pull %s: %w", p.URL, err)
	}
	return nil
}

// segments answers the ranges of chunk c (at off, filling data) to fetch: all of it, or what lies
// between its Holes, which are cleared in data.
func (p *Pull) segments(c int, off int64, data []byte) []Span {
	end := off + int64(len(data))
	if p.Holes == nil {
		return []Span{{off, end - off}}
	}
	var segs []Span
	pos := off
	for _, h := range p.Holes(c) {
		from, to := max(h.Off, pos), min(h.Off+h.Len, end)
		if from >= to {
			continue
		}
		if from > pos {
			segs = append(segs, Span{pos, from - pos})
		}
		clear(data[from-off : to-off])
		pos = to
	}
	if pos < end {
		segs = append(segs, Span{pos, end - pos})
	}
	return segs
}

// fetchChunk fills buf with the chunk at off. A retry asks only for what the
// failed attempt did not deliver: those bytes came in a valid answer, and
// fetching them again would spend origin capacity for nothing. With a Gate,
// each request passes it first and asks for no more than it allows, and what
// the origin did not send of it is refunded.
func (p *Pull) fetchChunk(ctx context.Context, chunk int, off int64, buf []byte) error {
	retries := p.Retries
	switch {
	case retries == 0:
		retries = 3
	case retries < 0:
		retries = 0
	}
	backoff := p.Backoff
	if backoff == nil {
		backoff = DefaultBackoff
	}
	retryFor := p.RetryFor
	if retryFor <= 0 {
		retryFor = DefaultRetryFor
	}
	var firstFailure time.Time
	got, attempt := 0, 0
	for got < len(buf) {
		rctx, release, k, err := admit(ctx, p.Gate, int64(len(buf)-got))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if gateRetry(err) {
				continue
			}
			return fmt.Errorf("pull chunk %d: %w", chunk, err)
		}
		n, unsent, err := p.fetchInto(rctx, off+int64(got), buf[got:got+int(k)])
		// Both before release, which ends rctx: whether the gate ended the admission, and the
		// refund, which the gate counts under the grant that charged it while the connection is held.
		ended := rctx.Err() != nil
		refund(p.Gate, unsent)
		release()
		got += n
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if Final(err) || !retryable(err) {
			return fmt.Errorf("pull chunk %d: %w", chunk, err)
		}
		if ended {
			continue // the gate ended the admission (its lease ran out): ask again
		}
		now := time.Now()
		if firstFailure.IsZero() {
			firstFailure = now
		}
		if attempt++; attempt > retries {
			return fmt.Errorf("pull chunk %d: %w: giving up after %d attempts: %w", chunk, ErrSourceUnavailable, retries+1, err)
		}
		d := backoff(attempt)
		var se *SourceError
		if errors.As(err, &se) && se.RetryAfter > d {
			d = se.RetryAfter
		}
		if now.Add(d).Sub(firstFailure) > retryFor {
			return fmt.Errorf("pull chunk %d: %w: giving up after %s of failures (the next try would be in %s; the bound is %s): %w",
				chunk, ErrSourceUnavailable, now.Sub(firstFailure).Round(time.Millisecond), d.Round(time.Millisecond), retryFor, err)
		}
		if err := wait(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

// fetchInto fills dst with the bytes at off and returns how many it filled, and how many of the
// rest the origin surely did not send (see unsentOf).
func (p *Pull) fetchInto(ctx context.Context, off int64, dst []byte) (int, int64, error) {
	n := int64(len(dst))
	stall := p.Stall
	if stall <= 0 {
		stall = DefaultStall
	}
	// A watchdog drops the request when nothing came for stall: a body that stops does not
	// hang the pull.
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	dog := time.AfterFunc(stall, func() { cancel(errStalled) })
	defer dog.Stop()
	stalled := func(err error) error {
		if ctx.Err() == nil && errors.Is(context.Cause(sctx), errStalled) {
			return fmt.Errorf("origin %s sent nothing for %s during bytes %d-%d: %w", p.URL, stall, off, off+n-1, errStalled)
		}
		return err
	}
	start := time.Now()
	resp, _, err := open(sctx, p.Client, p.URL, off, n, p.Size, p.pin.Load())
	observe(p.Gate, start, err)
	if err != nil {
		return 0, unsentOf(sctx, err, n, 0), stalled(err)
	}
	defer resp.Body.Close()
	body := &countingReader{r: resp.Body, n: &p.bytes, dog: dog, stall: stall}
	got, err := readExact(sctx, body, dst, p.URL, off)
	if err != nil {
		return got, unsentOf(sctx, err, n, int64(got)), stalled(err)
	}
	return got, 0, noMore(resp, p.URL, off, n)
}

type countingReader struct {
	r     io.Reader
	n     *atomic.Int64
	dog   *time.Timer // reset on every byte that comes; nil: none
	stall time.Duration
}

func (c *countingReader) Read(b []byte) (int, error) {
	k, err := c.r.Read(b)
	c.n.Add(int64(k))
	if k > 0 && c.dog != nil {
		c.dog.Reset(c.stall)
	}
	return k, err
}

func wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
