package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// randomBytes returns n deterministic pseudo-random bytes.
func randomBytes(n int, seed uint64) []byte {
	var s [32]byte
	s[0] = byte(seed)
	s[1] = byte(seed >> 8)
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(s).Read(b)
	return b
}

// serveRange answers a Range request for data properly.
func serveRange(data []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "f", time.Time{}, bytes.NewReader(data))
	}
}

// requestedRange parses the "bytes=a-b" the client sent.
func requestedRange(t *testing.T, r *http.Request) (off, end int64) {
	t.Helper()
	spec, ok := strings.CutPrefix(r.Header.Get("Range"), "bytes=")
	a, b, ok2 := strings.Cut(spec, "-")
	off, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || !ok2 || err1 != nil || err2 != nil {
		t.Errorf("request without a plain range: Range %q", r.Header.Get("Range"))
		return 0, 0
	}
	return off, end
}

// closedURL returns a loopback URL on which nothing listens.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return "http://" + addr + "/f"
}

func TestSourceErrorMessage(t *testing.T) {
	t.Parallel()
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	tests := []struct {
		err  *SourceError
		want string
	}{
		{&SourceError{URL: "http://h/f", Status: 404, Reason: "answered 404 Not Found: check the URL"},
			"origin http://h/f answered 404 Not Found: check the URL"},
		{&SourceError{URL: "http://h/f", Status: 200, Reason: "ignores Range requests (answered 200 to a Range request): serve it from a server with Range support"},
			"origin http://h/f ignores Range requests (answered 200 to a Range request): serve it from a server with Range support"},
		{&SourceError{URL: "http://h/f", Err: refused},
			"cannot reach origin http://h/f: dial tcp: connection refused"},
		{&SourceError{URL: "http://h/f", Status: 500, Reason: "says\nhello"},
			"origin http://h/f says hello"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	if err := error(tests[2].err); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("errors.Is(%v, ECONNREFUSED) = false, want true", err)
	}
}

func TestProbe(t *testing.T) {
	t.Parallel()
	data := randomBytes(12345, 1)
	tests := []struct {
		name       string
		handler    http.HandlerFunc
		url        func(t *testing.T) string // overrides the test server
		want       int64
		wantStatus int    // of the *SourceError; -1: no error
		wantMsg    string // part of the error text
	}{
		{name: "206", handler: serveRange(data), want: 12345, wantStatus: -1},
		{name: "empty file", handler: serveRange(nil), want: 0, wantStatus: -1},
		{name: "200", handler: func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write(data)
		}, wantStatus: 200, wantMsg: "ignores Range requests (answered 200 to a Range request): serve it from a server with Range support"},
		{name: "404", handler: http.NotFound, wantStatus: 404, wantMsg: "answered 404 Not Found: check the URL"},
		{name: "500", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "boom", http.StatusInternalServerError)
		}, wantStatus: 500, wantMsg: "answered 500 Internal Server Error"},
		{name: "missing Content-Range", handler: func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(data[:1])
		}, wantStatus: 206, wantMsg: `Content-Range ""`},
		{name: "unknown size", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", "bytes 0-0/*")
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(data[:1])
		}, wantStatus: 206, wantMsg: "does not say the file size"},
		{name: "compressed", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Header().Set("Content-Range", "bytes 0-0/12345")
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(data[:1])
		}, wantStatus: 206, wantMsg: "Content-Encoding"},
		{name: "connection refused", url: closedURL, wantStatus: 0, wantMsg: "cannot reach origin http://127.0.0.1:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var url string
			if tt.url != nil {
				url = tt.url(t)
			} else {
				srv := httptest.NewServer(tt.handler)
				defer srv.Close()
				url = srv.URL + "/f"
			}
			size, err := Probe(t.Context(), newClient(t), url)
			if tt.wantStatus < 0 {
				if err != nil || size != tt.want {
					t.Fatalf("Probe = %d, %v; want %d, nil", size, err, tt.want)
				}
				return
			}
			var se *SourceError
			if !errors.As(err, &se) {
				t.Fatalf("Probe error = %v (%T), want *SourceError", err, err)
			}
			if se.Status != tt.wantStatus || se.URL != url {
				t.Errorf("SourceError status %d, URL %q; want %d, %q", se.Status, se.URL, tt.wantStatus, url)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.wantMsg) || !strings.Contains(msg, url) || strings.Contains(msg, "\n") {
				t.Errorf("error %q: want one line naming %s and containing %q", msg, url, tt.wantMsg)
			}
		})
	}
}

// newClient is the client the tests use: a fresh transport, so no test shares
// connections with another.
func newClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func TestGetRange(t *testing.T) {
	t.Parallel()
	data := randomBytes(1<<20, 2)
	const off, n = 1000, 64 << 10
	tests := []struct {
		name        string
		handler     http.HandlerFunc
		wantWritten int64
		wantSource  bool // a *SourceError
		wantShort   bool // io.ErrUnexpectedEOF after the bytes that came
	}{
		{name: "good", handler: serveRange(data), wantWritten: n},
		{name: "200", handler: func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write(data)
		}, wantSource: true},
		{name: "wrong start", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off+1, off+n, len(data)))
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(data[off+1 : off+n+1])
		}, wantSource: true},
		{name: "wrong end", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, off+n-2, len(data)))
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(data[off : off+n-1])
		}, wantSource: true},
		{name: "garbled Content-Range", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes +%d-%d/%d", off, off+n-1, len(data)))
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(data[off : off+n])
		}, wantSource: true},
		{name: "Content-Length not the range", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, len(data)))
			w.Header().Set("Content-Length", strconv.Itoa(n+1))
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(data[off : off+n+1])
		}, wantSource: true},
		{name: "longer body of unknown length", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, len(data)))
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(data[off : off+n/2])
			w.(http.Flusher).Flush() // forces chunked encoding: no Content-Length
			_, _ = w.Write(data[off+n/2 : off+n+10])
		}, wantWritten: n, wantSource: true},
		{name: "short body", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, off+n-1, len(data)))
			w.Header().Set("Content-Length", strconv.Itoa(n))
			w.WriteHeader(http.StatusPartialContent)
			_, _ = w.Write(data[off : off+n/2])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler) // closes the connection mid-body
		}, wantWritten: n / 2, wantShort: true},
		{name: "404", handler: http.NotFound, wantSource: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			var buf bytes.Buffer
			written, err := GetRange(t.Context(), newClient(t), srv.URL+"/f", off, n, &buf)
			if written != tt.wantWritten || int64(buf.Len()) != written {
				t.Errorf("written %d (buffer %d), want %d", written, buf.Len(), tt.wantWritten)
			}
			if !bytes.Equal(buf.Bytes(), data[off:off+int(written)]) {
				t.Errorf("written bytes differ from the file's")
			}
			var se *SourceError
			switch {
			case tt.wantSource:
				if !errors.As(err, &se) {
					t.Errorf("error = %v (%T), want *SourceError", err, err)
				}
			case tt.wantShort:
				if !errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &se) {
					t.Errorf("error = %v, want a short-body error", err)
				}
			default:
				if err != nil {
					t.Errorf("error = %v, want nil", err)
				}
			}
		})
	}
}

func TestGetRangeWriterError(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(serveRange(randomBytes(4096, 3)))
	defer srv.Close()
	wantErr := errors.New("disk full")
	_, err := GetRange(t.Context(), newClient(t), srv.URL, 0, 4096, failWriter{wantErr})
	var se *SourceError
	if !errors.Is(err, wantErr) || errors.As(err, &se) {
		t.Errorf("error = %v, want the writer's error, not a *SourceError", err)
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

func TestGetRangeCanceled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := GetRange(ctx, newClient(t), closedURL(t), 0, 10, io.Discard)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
}

func TestParseContentRange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in                 string
		first, last, total int64
		ok                 bool
	}{
		{"bytes 0-0/10", 0, 0, 10, true},
		{"bytes 5-9/10", 5, 9, 10, true},
		{"bytes 5-9/*", 5, 9, -1, true},
		{"bytes */10", -1, -1, 10, true},
		{"bytes 5-10/10", 0, 0, 0, false}, // past the end
		{"bytes 9-5/10", 0, 0, 0, false},
		{"bytes */*", 0, 0, 0, false},
		{"bytes -5-9/10", 0, 0, 0, false},
		{"bytes 5-9", 0, 0, 0, false},
		{"items 5-9/10", 0, 0, 0, false},
		{"bytes 5 -9/10", 0, 0, 0, false},
		{"", 0, 0, 0, false},
	}
	for _, tt := range tests {
		first, last, total, ok := parseContentRange(tt.in)
		if ok != tt.ok || (ok && (first != tt.first || last != tt.last || total != tt.total)) {
			t.Errorf("parseContentRange(%q) = %d, %d, %d, %v; want %d, %d, %d, %v",
				tt.in, first, last, total, ok, tt.first, tt.last, tt.total, tt.ok)
		}
	}
}
