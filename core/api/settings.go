package api

// Settings tune one distribution's hybrid download (BitTorrent first, HTTP assist when it is slow
// or blocked). A zero field takes the host's default, and the host's default the specification's
// (see core/hybrid). Durations are milliseconds, rates bytes/s.
type Settings struct {
	Threshold  int64   `json:"bt_threshold,omitempty"` // BT rate below which HTTP assists, before adaptation
	WindowMs   int64   `json:"window_ms,omitempty"`    // speed window
	SampleMs   int64   `json:"sample_ms,omitempty"`    // speed sample interval
	CooldownMs int64   `json:"cooldown_ms,omitempty"`  // minimum time between two mode switches
	HTTPShare  float64 `json:"http_share,omitempty"`   // cap of HTTP's share of bytes while assisting (0.1–0.5)
	BTGraceMs  int64   `json:"bt_grace_ms,omitempty"`  // no BT peer for this long: HTTP becomes the main path
	MaxSpeed   int64   `json:"max_speed,omitempty"`    // cap of the HTTP piece fetching rate of each client
	TimeoutMs  int64   `json:"timeout_ms,omitempty"`   // a client that has not finished after this long fails
	NoAssist   bool    `json:"no_assist,omitempty"`    // BitTorrent only: never fetch pieces over HTTP

	// StartThreshold is the share of the file (0.01–0.10) a relay holds before it serves over
	// HTTP; 0: 3 %. Several waiting requests start it sooner.
	StartThreshold float64 `json:"start_threshold,omitempty"`
}

// Merge returns s with its zero fields taken from def.
func (s *Settings) Merge(def Settings) Settings {
	if s == nil {
		return def
	}
	out := *s
	pick := func(v *int64, d int64) {
		if *v == 0 {
			*v = d
		}
	}
	pick(&out.Threshold, def.Threshold)
	pick(&out.WindowMs, def.WindowMs)
	pick(&out.SampleMs, def.SampleMs)
	pick(&out.CooldownMs, def.CooldownMs)
	pick(&out.BTGraceMs, def.BTGraceMs)
	pick(&out.MaxSpeed, def.MaxSpeed)
	pick(&out.TimeoutMs, def.TimeoutMs)
	if out.HTTPShare == 0 {
		out.HTTPShare = def.HTTPShare
	}
	if out.StartThreshold == 0 {
		out.StartThreshold = def.StartThreshold
	}
	out.NoAssist = out.NoAssist || def.NoAssist
	return out
}
