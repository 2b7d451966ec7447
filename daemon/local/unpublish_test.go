package local

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"dist/core/api"
	"dist/daemon/publish"
)

// fakePeer is a connection whose caller the test chooses.
type fakePeer struct{ who caller }

func (f fakePeer) caller() caller   { return f.who }
func (fakePeer) takeFile() *os.File { return nil }

func TestUnpublishRoute(t *testing.T) {
	t.Parallel()
	const hash = "0123456789abcdef0123456789abcdef01234567"
	unpub := func(_ context.Context, what string) (api.Published, error) {
		if what != hash {
			return api.Published{}, fmt.Errorf("%w: %s", publish.ErrNotPublished, what)
		}
		return api.Published{InfoHash: hash, Name: "image.iso"}, nil
	}
	tests := []struct {
		name string
		who  *caller // nil: a connection that tells no caller
		body string
		want int
	}{
		{"unknown caller", nil, `{"what":"` + hash + `"}`, http.StatusForbidden},
		{"another user", &caller{uid: 1001, known: true}, `{"what":"` + hash + `"}`, http.StatusForbidden},
		{"daemon's user", &caller{known: true, own: true}, `{"what":"` + hash + `"}`, http.StatusOK},
		{"not published", &caller{known: true, own: true}, `{"what":"/nope"}`, http.StatusNotFound},
		{"no body", &caller{known: true, own: true}, `{}`, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest("POST", UnpublishPath, strings.NewReader(tt.body))
			if tt.who != nil {
				req = req.WithContext(context.WithValue(req.Context(), connKey{}, peerConn(fakePeer{*tt.who})))
			}
			rec := httptest.NewRecorder()
			handleUnpublish(rec, req, unpub)
			if rec.Code != tt.want {
				t.Errorf("status %d (%s), want %d", rec.Code, strings.TrimSpace(rec.Body.String()), tt.want)
			}
		})
	}
}
