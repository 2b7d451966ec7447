package api

import (
	"context"
	"net/http"
	"net/url"
)

// DistributionReport answers the figures of one distribution (see DistReport).
func (c *Client) DistributionReport(ctx context.Context, id string) (DistReport, error) {
	var r DistReport
	err := c.Do(ctx, http.MethodGet, "/v1/distributions/"+url.PathEscape(id)+"/report", nil, &r)
	return r, err
}
