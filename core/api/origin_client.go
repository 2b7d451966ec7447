package api

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
)

// Origins lists every origin with a policy or live leases; origin, when not empty, picks one.
func (c *Client) Origins(ctx context.Context, origin string) ([]OriginStatus, error) {
	path := "/v1/origins"
	if origin != "" {
		path += "?" + url.Values{"origin": {origin}}.Encode()
	}
	var out []OriginStatus
	err := c.Do(ctx, http.MethodGet, path, nil, &out)
	return out, err
}

// SetOrigin changes the fields of an origin's policy that u gives and answers the result.
func (c *Client) SetOrigin(ctx context.Context, u OriginUpdate) (OriginStatus, error) {
	var out OriginStatus
	err := c.Do(ctx, http.MethodPut, "/v1/origins", u, &out)
	return out, err
}

// AcquireLease asks for a lease on an origin.
func (c *Client) AcquireLease(ctx context.Context, r LeaseRequest) (LeaseAnswer, error) {
	var out LeaseAnswer
	err := c.Do(ctx, http.MethodPost, "/v1/leases", r, &out)
	return out, err
}

// RenewLease reports what a lease used and extends it.
func (c *Client) RenewLease(ctx context.Context, id string, r LeaseRenew) (LeaseAnswer, error) {
	var out LeaseAnswer
	err := c.Do(ctx, http.MethodPost, "/v1/leases/"+url.PathEscape(id)+"/renew", r, &out)
	return out, err
}

// ReleaseLease ends a lease, reporting the bytes it used since it was granted or last renewed.
func (c *Client) ReleaseLease(ctx context.Context, id string, used int64) error {
	q := url.Values{"used": {strconv.FormatInt(used, 10)}}
	return c.Do(ctx, http.MethodDelete, "/v1/leases/"+url.PathEscape(id)+"?"+q.Encode(), nil, nil)
}
