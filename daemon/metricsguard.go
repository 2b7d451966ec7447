package daemon

import "net/http"

// guardMetrics closes the controller's /metrics to strangers (controller.Server.GuardMetrics);
// other hosts' metrics are left as they are.
func (d *Daemon) guardMetrics(h http.Handler) http.Handler {
	if d.ctrl == nil {
		return h
	}
	return d.ctrl.GuardMetrics(h)
}
