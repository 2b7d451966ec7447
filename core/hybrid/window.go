package hybrid

import "time"

// Window is a sliding window over samples of a monotonic byte counter. It is not safe for
// concurrent use; the caller owns the sampling loop.
type Window struct {
	span    time.Duration
	samples []sample // oldest first; samples[0] may be older than the span (the base)
}

type sample struct {
	at    time.Time
	total int64
}

// NewWindow returns an empty window spanning span.
func NewWindow(span time.Duration) *Window {
	return &Window{span: span}
}

// Span is the length of the window.
func (w *Window) Span() time.Duration { return w.span }

// Reset forgets every sample.
func (w *Window) Reset() { w.samples = w.samples[:0] }

// Add records that the counter read total at time at. Times must not go backwards. A counter
// lower than the previous sample means it was reset (the torrent was re-added, say), so the window
// starts over rather than reporting a negative rate; a time going backwards is treated the same way.
func (w *Window) Add(at time.Time, total int64) {
	if n := len(w.samples); n > 0 {
		last := w.samples[n-1]
		if total < last.total || at.Before(last.at) {
			w.Reset()
		}
	}
	w.samples = append(w.samples, sample{at: at, total: total})
	// Keep the newest sample at or before the window's start as the base, so the rate always
	// covers at least the whole span once enough samples exist; drop everything older.
	cut := at.Add(-w.span)
	drop := 0
	for i := 1; i < len(w.samples) && !w.samples[i].at.After(cut); i++ {
		drop = i
	}
	if drop > 0 {
		w.samples = append(w.samples[:0], w.samples[drop:]...)
	}
}

// Rate is the average rate in bytes/s over the window ending at at: the counter's growth from the
// base sample (the newest at or before at−span, else the oldest kept) to the newest sample at or
// before at. It is 0 with fewer than two samples, and 0 when the newest sample is older than the
// span, since a silent counter is no evidence of progress.
func (w *Window) Rate(at time.Time) float64 {
	first, last, ok := w.ends(at)
	if !ok {
		return 0
	}
	if at.Sub(last.at) > w.span {
		return 0
	}
	dt := last.at.Sub(first.at).Seconds()
	if dt <= 0 {
		return 0
	}
	return float64(last.total-first.total) / dt
}

// Full reports whether the samples span at least the window at time at.
func (w *Window) Full(at time.Time) bool {
	first, _, ok := w.ends(at)
	return ok && !first.at.After(at.Add(-w.span))
}

// ends finds the base and newest samples usable at time at.
func (w *Window) ends(at time.Time) (first, last sample, ok bool) {
	n := len(w.samples)
	for n > 0 && w.samples[n-1].at.After(at) {
		n--
	}
	if n < 2 {
		return sample{}, sample{}, false
	}
	cut := at.Add(-w.span)
	base := 0
	for i := 1; i < n-1 && !w.samples[i].at.After(cut); i++ {
		base = i
	}
	return w.samples[base], w.samples[n-1], true
}
