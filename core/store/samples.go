package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"dist/core/api"
)

// Sample is one assignment's counters at one time, as a host reported them.
type Sample struct {
	DistID          string        `json:"dist_id"`
	Host            string        `json:"host"`
	Role            api.Role      `json:"role"`
	At              time.Time     `json:"at"`
	State           api.TaskState `json:"state"`
	Have            int64         `json:"have"`
	BytesBT         int64         `json:"bytes_bt"`
	BytesHTTPRelay  int64         `json:"bytes_http_relay"`
	BytesHTTPOrigin int64         `json:"bytes_http_origin"`
	BytesUp         int64         `json:"bytes_up"`
	Peers           int           `json:"peers"`
}

// RelayRate is the throughput seen from a relay's distributions to the clients of one site.
type RelayRate struct {
	Relay string
	Site  string
	Rate  int64 // bytes/s
}

// Samples keeps progress samples for reports and the relay history.
type Samples interface {
	// AddSamples appends samples; one whose distribution is gone is dropped.
	AddSamples(ctx context.Context, ss []Sample) error
	// Samples answers a distribution's samples, oldest first.
	Samples(ctx context.Context, distID string) ([]Sample, error)
	// RelayRates answers, over the last n distributions, the average rate of the finished clients
	// of each site in the distributions each relay served.
	RelayRates(ctx context.Context, n int) ([]RelayRate, error)
}

var _ Samples = (*SQLite)(nil)

// AddSamples appends samples in one transaction.
func (s *SQLite) AddSamples(ctx context.Context, ss []Sample) error {
	if len(ss) == 0 {
		return nil
	}
	if err := s.addSamples(ctx, ss); err != nil {
		return fmt.Errorf("add samples: %w", err)
	}
	return nil
}

// qSampleIns stores one sample; the SELECT drops a sample of a distribution deleted meanwhile
// instead of failing the batch.
const qSampleIns = `INSERT INTO samples (dist_id, host, role, at, state, have,
		bytes_bt, bytes_http_relay, bytes_http_origin, bytes_up, peers)
		SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM distributions WHERE id = ?)`

func (s *SQLite) addSamples(ctx context.Context, ss []Sample) error {
	return s.writeEach(ctx, qSampleIns, func(ins *sql.Stmt) error {
		for _, x := range ss {
			if _, err := ins.ExecContext(ctx, x.DistID, x.Host, x.Role, toMs(x.At), x.State, x.Have,
				x.BytesBT, x.BytesHTTPRelay, x.BytesHTTPOrigin, x.BytesUp, x.Peers, x.DistID); err != nil {
				return fmt.Errorf("sample of %s/%s: %w", x.DistID, x.Host, err)
			}
		}
		return nil
	})
}

// Samples answers a distribution's samples, oldest first.
func (s *SQLite) Samples(ctx context.Context, distID string) ([]Sample, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT dist_id, host, role, at, state, have, bytes_bt,
		bytes_http_relay, bytes_http_origin, bytes_up, peers FROM samples WHERE dist_id = ?
		ORDER BY at, rowid`, distID)
	if err != nil {
		return nil, fmt.Errorf("samples of distribution %s: %w", distID, err)
	}
	defer rows.Close()
	var out []Sample
	for rows.Next() {
		var (
			x  Sample
			at int64
		)
		if err := rows.Scan(&x.DistID, &x.Host, &x.Role, &at, &x.State, &x.Have, &x.BytesBT,
			&x.BytesHTTPRelay, &x.BytesHTTPOrigin, &x.BytesUp, &x.Peers); err != nil {
			return nil, fmt.Errorf("samples of distribution %s: %w", distID, err)
		}
		x.At = fromMs(at)
		out = append(out, x)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("samples of distribution %s: %w", distID, err)
	}
	return out, nil
}

// RelayRates answers the history the relay policy weighs: per relay and client site, the bytes of
// finished clients over their download time, in the last n distributions.
func (s *SQLite) RelayRates(ctx context.Context, n int) ([]RelayRate, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT r.host, COALESCE(json_extract(h.labels, '$.site'), ''),
			SUM(c.have) * 1000 / SUM(c.done_at - c.first_byte_at)
		FROM assignments r
		JOIN assignments c ON c.dist_id = r.dist_id AND c.role = 'client'
			AND c.first_byte_at > 0 AND c.done_at > c.first_byte_at
		JOIN hosts h ON h.name = c.host
		WHERE r.role = 'relay' AND r.state IN ('seeding', 'done')
			AND r.dist_id IN (SELECT id FROM distributions ORDER BY created_at DESC LIMIT ?)
		GROUP BY r.host, 2`, n)
	if err != nil {
		return nil, fmt.Errorf("relay rates: %w", err)
	}
	defer rows.Close()
	var out []RelayRate
	for rows.Next() {
		var r RelayRate
		if err := rows.Scan(&r.Relay, &r.Site, &r.Rate); err != nil {
			return nil, fmt.Errorf("relay rates: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("relay rates: %w", err)
	}
	return out, nil
}
