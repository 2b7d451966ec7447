package plugins

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"dist/core/device"
	pb "dist/plugins/proto"
)

// OriginIO is what an origin-IO plugin implements: open a URI such as partition:///dev/sdb1.
type OriginIO interface {
	// Open opens uri for reading, and for writing too when write is set. The device's size is
	// fixed: dist never grows or truncates it.
	Open(ctx context.Context, uri string, write bool) (Device, error)
}

// Device is an opened URI: dist's one Device type (core/device), named here for plugin authors.
type Device = device.Device

// ChunkSize bounds one ReadAt or WriteAt message: gRPC refuses messages over 4 MiB by default,
// and pieces can be 64 MiB. Bigger calls are split.
const ChunkSize = 1 << 20

// callTimeout bounds a single ReadAt/WriteAt/Sync call through a plugin: a hung plugin turns
// into an error on the distribution instead of a stalled task.
const callTimeout = 2 * time.Minute

type originIOPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	impl OriginIO
}

func (p *originIOPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterOriginIOServer(s, &originIOServer{impl: p.impl, open: map[uint64]Device{}})
	return nil
}

func (p *originIOPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &OriginIOClient{c: pb.NewOriginIOClient(c)}, nil
}

// originIOServer keeps the plugin's open devices under handles the daemon refers to.
type originIOServer struct {
	pb.UnimplementedOriginIOServer
	impl OriginIO
	mu   sync.Mutex
	next uint64
	open map[uint64]Device
}

func (s *originIOServer) device(h uint64) (Device, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.open[h]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no open device %d", h)
	}
	return d, nil
}

func (s *originIOServer) Open(ctx context.Context, r *pb.OpenRequest) (*pb.OpenResponse, error) {
	d, err := s.impl.Open(ctx, r.GetUri(), r.GetWrite())
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.next++
	h := s.next
	s.open[h] = d
	s.mu.Unlock()
	return &pb.OpenResponse{Handle: h, Size: d.Size(), BlockSize: d.BlockSize()}, nil
}

func (s *originIOServer) ReadAt(_ context.Context, r *pb.ReadAtRequest) (*pb.ReadAtResponse, error) {
	d, err := s.device(r.GetHandle())
	if err != nil {
		return nil, err
	}
	if r.GetLength() < 0 || r.GetLength() > ChunkSize {
		return nil, status.Errorf(codes.InvalidArgument, "read of %d bytes: at most %d per call", r.GetLength(), ChunkSize)
	}
	buf := make([]byte, r.GetLength())
	n, err := d.ReadAt(buf, r.GetOffset())
	if errors.Is(err, io.EOF) {
		return &pb.ReadAtResponse{Data: buf[:n], Eof: true}, nil
	}
	if err != nil {
		return nil, err
	}
	return &pb.ReadAtResponse{Data: buf[:n]}, nil
}

func (s *originIOServer) WriteAt(_ context.Context, r *pb.WriteAtRequest) (*pb.WriteAtResponse, error) {
	d, err := s.device(r.GetHandle())
	if err != nil {
		return nil, err
	}
	n, err := d.WriteAt(r.GetData(), r.GetOffset())
	if err != nil {
		return nil, err
	}
	return &pb.WriteAtResponse{Written: int64(n)}, nil
}

func (s *originIOServer) Sync(_ context.Context, r *pb.HandleRequest) (*pb.Empty, error) {
	d, err := s.device(r.GetHandle())
	if err != nil {
		return nil, err
	}
	return &pb.Empty{}, d.Sync()
}

func (s *originIOServer) Close(_ context.Context, r *pb.HandleRequest) (*pb.Empty, error) {
	s.mu.Lock()
	d, ok := s.open[r.GetHandle()]
	delete(s.open, r.GetHandle())
	s.mu.Unlock()
	if !ok {
		return &pb.Empty{}, nil // closing twice is harmless
	}
	return &pb.Empty{}, d.Close()
}

// OriginIOClient is the daemon's side of an origin-IO plugin.
type OriginIOClient struct {
	c pb.OriginIOClient
}

// Open opens uri in the plugin and answers a Device whose calls go to the plugin.
func (c *OriginIOClient) Open(ctx context.Context, uri string, write bool) (Device, error) {
	r, err := c.c.Open(ctx, &pb.OpenRequest{Uri: uri, Write: write})
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", uri, rpcError(err))
	}
	if r.GetSize() < 0 {
		return nil, fmt.Errorf("open %s: plugin reports a negative size %d", uri, r.GetSize())
	}
	return &remoteDevice{c: c.c, uri: uri, h: r.GetHandle(), size: r.GetSize(), block: r.GetBlockSize()}, nil
}

// remoteDevice is a Device in a plugin process.
type remoteDevice struct {
	c      pb.OriginIOClient
	uri    string
	h      uint64
	size   int64
	block  int64
	closed atomic.Bool
}

func (d *remoteDevice) Size() int64      { return d.size }
func (d *remoteDevice) BlockSize() int64 { return d.block }
func (d *remoteDevice) String() string   { return d.uri }

func (d *remoteDevice) ReadAt(b []byte, off int64) (int, error) {
	done := 0
	for done < len(b) {
		want := min(len(b)-done, ChunkSize)
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		r, err := d.c.ReadAt(ctx, &pb.ReadAtRequest{Handle: d.h, Offset: off + int64(done), Length: int64(want)})
		cancel()
		if err != nil {
			return done, fmt.Errorf("read %s at %d: %w", d.uri, off+int64(done), rpcError(err))
		}
		got := r.GetData()
		if len(got) > want {
			return done, fmt.Errorf("read %s at %d: plugin answered %d bytes for %d", d.uri, off+int64(done), len(got), want)
		}
		done += copy(b[done:], got)
		if r.GetEof() {
			return done, io.EOF
		}
		if len(got) < want {
			return done, fmt.Errorf("read %s at %d: plugin answered %d bytes for %d without end of data", d.uri, off+int64(done), len(got), want)
		}
	}
	return done, nil
}

func (d *remoteDevice) WriteAt(b []byte, off int64) (int, error) {
	done := 0
	for done < len(b) {
		n := min(len(b)-done, ChunkSize)
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		r, err := d.c.WriteAt(ctx, &pb.WriteAtRequest{Handle: d.h, Offset: off + int64(done), Data: b[done : done+n]})
		cancel()
		if err != nil {
			return done, fmt.Errorf("write %s at %d: %w", d.uri, off+int64(done), rpcError(err))
		}
		if r.GetWritten() != int64(n) {
			return done, fmt.Errorf("write %s at %d: plugin wrote %d bytes of %d", d.uri, off+int64(done), r.GetWritten(), n)
		}
		done += n
	}
	return done, nil
}

func (d *remoteDevice) Sync() error {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if _, err := d.c.Sync(ctx, &pb.HandleRequest{Handle: d.h}); err != nil {
		return fmt.Errorf("sync %s: %w", d.uri, rpcError(err))
	}
	return nil
}

func (d *remoteDevice) Close() error {
	if d.closed.Swap(true) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := d.c.Close(ctx, &pb.HandleRequest{Handle: d.h}); err != nil {
		return fmt.Errorf("close %s: %w", d.uri, rpcError(err))
	}
	return nil
}

// rpcError turns a gRPC status into an error that reads like the plugin's own, and says plainly
// when the plugin is gone.
func rpcError(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch st.Code() {
	case codes.Unavailable, codes.Canceled:
		return fmt.Errorf("plugin unavailable (crashed or stopped): %s", st.Message())
	case codes.DeadlineExceeded:
		return fmt.Errorf("plugin did not answer in time: %s", st.Message())
	}
	return errors.New(st.Message())
}
