package api

import (
	"context"
	"net/http"
	"net/url"
)

// CancelDistribution cancels a distribution on every host and answers it in its new state.
// Cancelling a cancelled distribution is a no-op; one that already ended otherwise answers
// CodeConflict.
func (c *Client) CancelDistribution(ctx context.Context, id string) (Distribution, error) {
	var d Distribution
	err := c.Do(ctx, http.MethodPost, "/v1/distributions/"+url.PathEscape(id)+"/cancel", nil, &d)
	return d, err
}
