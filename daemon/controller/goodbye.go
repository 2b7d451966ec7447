package controller

import (
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"weak"
)

// GoodbyePath is where a daemon that stops cleanly says so (POST, ?host=NAME): it is offline at
// once instead of after the online window.
const GoodbyePath = "/v1/goodbye"

// farewells holds, for each host that said goodbye, when it did. A host is offline while it has
// not been seen since; its next registration, watch or report brings it back. Kept beside the
// Server (by a weak key, dropped with it) so that liveness needs no field of its own in it.
type farewells struct {
	mu sync.Mutex
	at map[string]time.Time
}

var (
	farewellBooks sync.Map     // weak.Pointer[Server] → *farewells
	farewellCount atomic.Int64 // goodbyes kept, of every Server
)

func (s *Server) farewells() *farewells {
	key := weak.Make(s)
	if b, ok := farewellBooks.Load(key); ok {
		return b.(*farewells)
	}
	b, loaded := farewellBooks.LoadOrStore(key, &farewells{at: map[string]time.Time{}})
	if !loaded {
		runtime.AddCleanup(s, func(k weak.Pointer[Server]) {
			if b, ok := farewellBooks.LoadAndDelete(k); ok {
				b := b.(*farewells)
				b.mu.Lock()
				farewellCount.Add(-int64(len(b.at)))
				b.mu.Unlock()
			}
		}, key)
	}
	return b.(*farewells)
}

// saidGoodbye reports whether host name said goodbye and was not seen since (lastSeen).
func (s *Server) saidGoodbye(name string, lastSeen time.Time) bool {
	if farewellCount.Load() == 0 {
		return false // the common case, on every liveness check of a fleet: no lookup
	}
	b := s.farewells()
	b.mu.Lock()
	defer b.mu.Unlock()
	at, ok := b.at[name]
	if !ok {
		return false
	}
	if lastSeen.After(at) {
		delete(b.at, name) // seen again: back online
		farewellCount.Add(-1)
		return false
	}
	return true
}

// goodbye answers POST /v1/goodbye?host=NAME. Saying goodbye twice, or for a host the controller
// does not know, is not an error: the daemon stops either way.
func (s *Server) goodbye(w http.ResponseWriter, r *http.Request) error {
	name := r.URL.Query().Get("host")
	if name == "" {
		return badRequest("host is required: name the host that stops (?host=NAME)")
	}
	h, known, err := s.hostByName(r.Context(), name)
	if err != nil {
		return fmt.Errorf("goodbye of host %s: %w", name, err)
	}
	if known {
		at := s.now()
		if h.LastSeen.After(at) {
			at = h.LastSeen
		}
		s.farewell(name, at)
		s.cluster.bye(name, at)
		s.log.Info("host said goodbye", "host", name)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// farewell records that host name said goodbye at at.
func (s *Server) farewell(name string, at time.Time) {
	b := s.farewells()
	b.mu.Lock()
	if _, again := b.at[name]; !again {
		farewellCount.Add(1)
	}
	b.at[name] = at
	b.mu.Unlock()
}
