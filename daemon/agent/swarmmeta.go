package agent

import (
	"context"
	"net/http"
	"time"

	"dist/core/api"
)

// peerMetainfoTries bounds the relays asked for a metainfo before the controller is, and
// peerMetainfoTimeout each ask: a relay that does not hold it yet answers 404 at once.
const (
	peerMetainfoTries   = 2
	peerMetainfoTimeout = 3 * time.Second
)

// metainfoFetch answers how the watch loop fetches a metainfo named in tasks: from a relay the
// tracker lists for a task that names it (the relay built it, or fetched it once), else from the
// controller. When a relay publishes the metainfo of a URL source, a fleet's thousands of clients
// learn of it at the same moment; this way the controller does not send it to each of them.
func (a *Agent) metainfoFetch(tasks []api.Task) func(ctx context.Context, sum string) ([]byte, error) {
	env := a.cfg.Env
	return func(ctx context.Context, sum string) ([]byte, error) {
		if env.Pull != nil {
			tried := 0
			for _, base := range a.relaysFor(tasks, sum) {
				if tried == peerMetainfoTries {
					break
				}
				tried++
				fctx, cancel := context.WithTimeout(ctx, peerMetainfoTimeout)
				b, err := api.FetchPeerMetainfo(fctx, env.Pull, base, sum)
				cancel()
				if err == nil {
					return b, nil
				}
				a.log.Debug("metainfo not fetched from a relay", "relay", base, "err", err)
			}
		}
		return env.API.Metainfo(ctx, sum)
	}
}

// relaysFor answers the HTTP base URLs of the relays the tracker lists for the running tasks
// that name the metainfo sum.
func (a *Agent) relaysFor(tasks []api.Task, sum string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, spec := range tasks {
		if spec.MetainfoSHA256 != sum {
			continue
		}
		t := a.tasks[spec.ID]
		if t == nil {
			continue
		}
		peers, _ := t.Peers().List()
		for _, p := range peers {
			if p.Relay && p.HTTPURL != "" && p.Host != a.cfg.Env.Name {
				out = append(out, p.HTTPURL)
			}
		}
	}
	return out
}

// ServeMetainfo answers GET /v1/swarm/metainfo/{sum} from the metainfos this host holds.
func (a *Agent) ServeMetainfo(w http.ResponseWriter, r *http.Request) {
	b, ok := a.metas.Get(r.PathValue("sum"))
	if !ok {
		http.Error(w, "metainfo "+r.PathValue("sum")+" is not held here: ask the controller", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/x-bittorrent")
	w.Header().Set("Cache-Control", "private, max-age=31536000, immutable")
	_, _ = w.Write(b)
}
