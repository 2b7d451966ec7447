package hybrid

import (
	"math"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func TestWindowRateAndFull(t *testing.T) {
	t.Parallel()
	w := NewWindow(45 * time.Second)
	var total int64
	for i := 0; i <= 30; i++ {
		at := t0.Add(time.Duration(i) * 2 * time.Second)
		w.Add(at, total)
		wantFull := i*2 >= 45
		if got := w.Full(at); got != wantFull {
			t.Fatalf("at %ds: Full = %v, want %v", i*2, got, wantFull)
		}
		if i > 0 {
			if r := w.Rate(at); math.Abs(r-100*KiB) > 1 {
				t.Fatalf("at %ds: Rate = %.0f, want %d", i*2, r, 100*KiB)
			}
		}
		total += 200 * KiB // 100 KiB/s at one sample per 2 s
	}
}

func TestWindowForgetsOldSamples(t *testing.T) {
	t.Parallel()
	w := NewWindow(30 * time.Second)
	var total int64
	at := t0
	// 60 s fast, then 40 s stalled: the window only sees the stall.
	for i := 0; i < 30; i++ {
		w.Add(at, total)
		total += 2 * MiB
		at = at.Add(2 * time.Second)
	}
	for i := 0; i < 20; i++ {
		w.Add(at, total)
		at = at.Add(2 * time.Second)
	}
	last := at.Add(-2 * time.Second)
	if r := w.Rate(last); r != 0 {
		t.Fatalf("Rate after a 40 s stall in a 30 s window = %.0f, want 0", r)
	}
	if len(w.samples) > 17 {
		t.Fatalf("window keeps %d samples, want at most 17", len(w.samples))
	}
}

func TestWindowCounterResets(t *testing.T) {
	t.Parallel()
	w := NewWindow(30 * time.Second)
	for i := 0; i < 20; i++ {
		w.Add(t0.Add(time.Duration(i)*2*time.Second), int64(i)*MiB)
	}
	at := t0.Add(40 * time.Second)
	w.Add(at, 5) // torrent re-added: counter restarts
	if w.Full(at) {
		t.Fatal("Full right after a reset")
	}
	if r := w.Rate(at); r != 0 {
		t.Fatalf("Rate right after a reset = %.0f, want 0", r)
	}
	w.Add(at.Add(2*time.Second), 5+2*KiB)
	if r := w.Rate(at.Add(2 * time.Second)); math.Abs(r-KiB) > 0.01 {
		t.Fatalf("Rate after reset = %.2f, want %d", r, KiB)
	}
}

func TestWindowStaleCounter(t *testing.T) {
	t.Parallel()
	w := NewWindow(30 * time.Second)
	w.Add(t0, 0)
	w.Add(t0.Add(2*time.Second), MiB)
	if r := w.Rate(t0.Add(2 * time.Second)); r == 0 {
		t.Fatal("Rate = 0 with fresh samples")
	}
	if r := w.Rate(t0.Add(time.Minute)); r != 0 {
		t.Fatalf("Rate with no sample for a minute = %.0f, want 0", r)
	}
}
