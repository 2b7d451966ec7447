// Package lowat lets the reader of an answer whose length it knows be woken once per batch of
// bytes instead of once per packet. Every wake-up costs a round through the scheduler, the poller
// and a system call; on a shaped or busy link the packets of a piece come a few at a time, and
// the wake-ups, not the bytes, become the reader's CPU. A Conn raises the socket's receive
// low-water mark (SO_RCVLOWAT) while at least a batch of the awaited bytes is still to come, and
// lowers it to one byte for the last of them, so a read never waits for bytes that will not come.
package lowat

import (
	"context"
	"net"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"syscall"
)

// Batch is the low-water mark while the bytes still to come are at least that many: 32 KiB is
// about 22 packets. It stays well under a quarter of the socket's initial receive buffer
// (tcp_rmem, 128 KiB by default): Linux clamps the receive window to a mark whose room does not
// fit the buffer, for the rest of the connection.
const Batch = 32 << 10

// Conn is a connection that counts the bytes read from it and batches its wake-ups while an
// answer of known length is read (Hook).
type Conn struct {
	net.Conn
	raw  syscall.RawConn // nil: the platform has no low-water mark
	read atomic.Int64

	mu     sync.Mutex
	end    int64 // the read count by which every awaited byte has surely come; 0: none awaited
	cur    int   // the mark the socket has now (1: the kernel's default)
	raised int   // how often the mark went up to Batch (tests)
}

// Dial answers a DialContext for an http.Transport: the connections d makes, as Conns.
func Dial(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		lc := &Conn{Conn: c, cur: 1}
		if tc, ok := c.(*net.TCPConn); ok && supported {
			if raw, err := tc.SyscallConn(); err == nil {
				lc.raw = raw
			}
		}
		return lc, nil
	}
}

func (c *Conn) Read(p []byte) (int, error) {
	if c.raw != nil {
		c.adjust()
	}
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// adjust sets the mark the bytes still surely to come allow: Batch while they are at least
// that many, else one byte.
func (c *Conn) adjust() {
	c.mu.Lock()
	defer c.mu.Unlock()
	want := 1
	if c.end > 0 && c.end-c.read.Load() >= Batch {
		want = Batch
	}
	if want == c.cur {
		return
	}
	c.cur = want
	if want == Batch {
		c.raised++
	}
	_ = c.raw.Control(func(fd uintptr) { setLowat(fd, want) }) // a mark not set only wakes more often
}

func (c *Conn) await(end int64) {
	c.mu.Lock()
	c.end = end
	c.mu.Unlock()
}

// Hook follows the connection one HTTP request goes out on (Trace), so that the reader of its
// answer can tell how many bytes are still to come.
type Hook struct {
	conn *Conn
	mark int64 // bytes read from conn before the request went out
}

// Trace answers ctx with a trace that fills h when the request gets its connection. Over
// HTTP/1.1 every byte read from it from then on belongs to this request's answer.
func Trace(ctx context.Context, h *Hook) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		c := info.Conn
		if tc, ok := c.(interface{ NetConn() net.Conn }); ok { // TLS: the connection under it
			c = tc.NetConn()
		}
		if lc, ok := c.(*Conn); ok && lc.raw != nil {
			h.conn, h.mark = lc, lc.read.Load()
		}
	}})
}

// Expect says that the answer brings at least n more bytes than its head: its body's length,
// known from the head. Bytes of the head or of the body already read only lower what the mark
// counts on.
func (h *Hook) Expect(n int64) {
	if h.conn != nil && n > 0 {
		h.conn.await(h.mark + n)
	}
}

// Done ends the wait for the answer's bytes: the connection's next reads are woken at once.
func (h *Hook) Done() {
	if h.conn != nil {
		h.conn.await(0)
	}
}
