package controller

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"dist/core/api"
	"dist/core/store"
)

// watch answers GET /v1/watch?host=NAME&version=V: the host's whole task list. When the caller
// already has the current version the request is held until something changes, the poll timeout
// passes or the caller goes away; the answer is level-triggered, so a lost one costs nothing.
func (s *Server) watch(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	// Read without parsing the whole query (queryValue): every watch of the fleet comes here.
	name, asked := queryValue(r.URL.RawQuery, "host"), queryValue(r.URL.RawQuery, "version")
	if name == "" {
		return badRequest("host is missing: ask as ?host=NAME")
	}
	if err := checkString("host", name, maxNameLen); err != nil {
		return err
	}
	if err := checkString("version", asked, maxTokenLen); err != nil {
		return err
	}
	if err := s.touch(ctx, name, s.now()); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errorf(http.StatusNotFound, codeNotFound, "host %s is not registered: register it first (POST /v1/hosts)", name)
		}
		return fmt.Errorf("touch host %s: %w", name, err)
	}

	// Take the version and its channel together: a change after this point closes ch.
	version, all, mine := s.notify.version(name)
	wake := wakeImmediate
	if asked == version {
		if s.onHold != nil {
			s.onHold()
		}
		timer := time.NewTimer(api.WatchHold(name))
		defer timer.Stop()
		mine.held.Add(1)
		select {
		case <-all:
			wake = wakeChange
		case <-mine.ch:
			wake = wakeChange
		case <-timer.C:
			wake = wakeTimeout
		case <-ctx.Done():
		}
		mine.held.Add(-1)
		if ctx.Err() != nil {
			return nil // the caller is gone: nobody to answer
		}
		version, _, _ = s.notify.version(name)
	}
	// The version is read before the tasks: a change in between makes the caller come back at
	// once with an old version, never miss the change.
	tasks, err := s.hostTasksFromViews(ctx, name)
	if err != nil {
		if ctx.Err() != nil {
			return nil // the caller went away while it waited to read: nobody to answer
		}
		return err
	}
	s.metrics.watchAnswered(wake, len(tasks))
	hosts := s.hosts.size()
	writeJSON(w, http.StatusOK, api.Watch{Version: version, Tasks: tasks,
		ReportEveryMs: ReportEvery(hosts).Milliseconds(), PeersEveryMs: PeersEvery(hosts).Milliseconds(),
		IdleEveryMs: IdleEvery(hosts).Milliseconds()})
	if wake == wakeChange {
		s.notify.answered() // paces the release of the next held watches (notify.go)
	}
	return nil
}

// Report intervals the controller hands out: progress from every host with tasks at least every
// MinReportEvery, stretched with the fleet so that it sees about ReportsPerSecond progress
// reports a second, and never rarer than MaxReportEvery (state changes come at once anyway).
// The budget is what one controller serves beside its watches and peers asks with room to spare
// on two cores (fleetsim: at 1,000 reports a second a 10k push kept one core busy and shed);
// progress every 20 s is still finer than a dashboard of ten thousand hosts needs.
const (
	MinReportEvery   = time.Second
	MaxReportEvery   = 20 * time.Second
	ReportsPerSecond = 500
)

// ReportEvery is the progress interval for a fleet of hosts.
func ReportEvery(hosts int) time.Duration {
	d := time.Duration(hosts) * time.Second / ReportsPerSecond
	return min(max(d, MinReportEvery), MaxReportEvery)
}

// Heartbeat intervals the controller hands out to hosts without tasks. Each watch a host starts
// (at least every api.WatchPollTimeout, within OnlineWindow) marks it seen, so a watching host
// stays online without heartbeats; the heartbeat is what keeps a host whose watch fails online
// while it comes back. A small fleet keeps MinIdleEvery; a big one sends about HeartbeatsPerSecond
// of them, never rarer than MaxIdleEvery: at 100,000 idle hosts, 833 a second instead of 10,000.
const (
	MinIdleEvery        = 10 * time.Second
	MaxIdleEvery        = 2 * time.Minute
	HeartbeatsPerSecond = 200
)

// IdleEvery is the heartbeat interval of an idle host in a fleet of hosts.
func IdleEvery(hosts int) time.Duration {
	d := time.Duration(hosts) * time.Second / HeartbeatsPerSecond
	return min(max(d, MinIdleEvery), MaxIdleEvery)
}

// Tracker intervals the controller hands out, the same way: a task asks for peers at least every
// MinPeersEvery once its swarm formed, stretched so that the fleet asks about PeersPerSecond
// times a second, never rarer than MaxPeersEvery. The swarm finds most of its peers by itself
// (peer exchange); the tracker seeds it and tells it of relays.
const (
	MinPeersEvery  = 5 * time.Second
	MaxPeersEvery  = time.Minute
	PeersPerSecond = 250
)

// PeersEvery is the tracker interval for a fleet of hosts.
func PeersEvery(hosts int) time.Duration {
	d := time.Duration(hosts) * time.Second / PeersPerSecond
	return min(max(d, MinPeersEvery), MaxPeersEvery)
}

// getMetainfo answers GET /v1/metainfo/{sum}: a metainfo by the SHA-256 of its bytes. One sum
// names one content forever, so the answer may be cached for good.
func (s *Server) getMetainfo(w http.ResponseWriter, r *http.Request) error {
	sum := r.PathValue("sum")
	b, ok := s.views.metainfo(sum)
	if !ok {
		return errorf(http.StatusNotFound, codeNotFound, "metainfo %s is not known here: watch again for the current one", sum)
	}
	if err := s.mayReadMetainfo(r, sum); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-bittorrent")
	w.Header().Set("Cache-Control", "private, max-age=31536000, immutable")
	w.Header().Set("ETag", `"`+sum+`"`)
	if r.Header.Get("If-None-Match") == `"`+sum+`"` {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	return nil
}
