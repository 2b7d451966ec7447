package agent

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// goodbyePath is the controller's route for a daemon that stops cleanly (controller.GoodbyePath).
const goodbyePath = "/v1/goodbye"

// goodbyeTimeout bounds the goodbye: a daemon that stops does not wait on an unreachable
// controller, which then finds the host offline after its online window as before.
const goodbyeTimeout = 2 * time.Second

// goodbye tells the controller that this host stops, so that it shows offline at once.
func (a *Agent) goodbye() {
	if a.cfg.Env.API == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), goodbyeTimeout)
	defer cancel()
	env := a.cfg.Env
	q := url.Values{"host": {env.Name}}
	if err := env.API.Do(ctx, http.MethodPost, goodbyePath+"?"+q.Encode(), nil, nil); err != nil {
		a.log.Debug("goodbye not said: the controller finds this host offline later", "err", err)
		return
	}
	a.log.Info("said goodbye to the controller")
}
