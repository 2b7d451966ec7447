package api

import (
	"context"
	"net/http"
	"net/url"
)

// Membership is the answer of GET /v1/distributions/{id}/members/{host}.
type Membership struct {
	Member bool `json:"member"`
}

// Member asks the controller whether host takes part in distribution distID (a relay or client
// task of it, or its publisher). Only a host that takes part may ask.
func (c *Client) Member(ctx context.Context, distID, host string) (bool, error) {
	var m Membership
	err := c.Do(ctx, http.MethodGet, "/v1/distributions/"+url.PathEscape(distID)+"/members/"+url.PathEscape(host), nil, &m)
	return m.Member, err
}
