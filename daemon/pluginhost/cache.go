package pluginhost

import (
	"bytes"
	"cmp"
	"io"
	"slices"
	"sync"
)

// Reads through a plugin cost one round trip each, and BitTorrent reads 16 KiB at a time (peer
// requests, piece hashing). blockCache reads a whole aligned block instead and keeps the last few,
// so neighbouring small reads are served from memory. Writes drop the blocks they touch, and a
// block read while a write to it ran is not kept, so a read never returns stale bytes.
const (
	cacheBlock  = 256 << 10
	cacheBlocks = 64
)

type blockCache struct {
	mu     sync.Mutex
	blocks map[int64][]byte // by block index
	order  []int64          // oldest first
	ver    map[int64]uint64 // writes seen per block
}

func newBlockCache() *blockCache {
	return &blockCache{blocks: map[int64][]byte{}, ver: map[int64]uint64{}}
}

// readAt serves b from cached blocks, fetching missing ones whole with fetch. size bounds the
// device. Reads spanning more than two blocks go straight to fetch.
func (c *blockCache) readAt(b []byte, off, size int64, fetch func([]byte, int64) (int, error)) (int, error) {
	if off >= size {
		return 0, io.EOF
	}
	if len(b) > cacheBlock {
		return fetch(b, off)
	}
	done := 0
	for done < len(b) && off+int64(done) < size {
		pos := off + int64(done)
		i := pos / cacheBlock
		blk, err := c.block(i, size, fetch)
		if err != nil {
			return done, err
		}
		n := copy(b[done:], blk[pos-i*cacheBlock:])
		if n == 0 {
			break
		}
		done += n
	}
	if done < len(b) {
		return done, io.EOF
	}
	return done, nil
}

func (c *blockCache) block(i, size int64, fetch func([]byte, int64) (int, error)) ([]byte, error) {
	c.mu.Lock()
	if blk, ok := c.blocks[i]; ok {
		c.mu.Unlock()
		return blk, nil
	}
	ver := c.ver[i]
	c.mu.Unlock()
	start := i * cacheBlock
	blk := make([]byte, min(cacheBlock, size-start))
	n, err := fetch(blk, start)
	if n < len(blk) {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ver[i] == ver { // no write to this block while it was read
		if _, ok := c.blocks[i]; !ok {
			c.blocks[i] = blk
			c.order = append(c.order, i)
			if len(c.order) > cacheBlocks {
				delete(c.blocks, c.order[0])
				c.order = c.order[1:]
			}
		}
	}
	return blk, nil
}

// wrote drops the blocks of [off, off+n) and marks them written.
func (c *blockCache) wrote(off, n int64) {
	if n <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := off / cacheBlock; i <= (off+n-1)/cacheBlock; i++ {
		c.ver[i]++
		if _, ok := c.blocks[i]; ok {
			delete(c.blocks, i)
			for j, k := range c.order {
				if k == i {
					c.order = append(c.order[:j], c.order[j+1:]...)
					break
				}
			}
		}
	}
}

// Writes through a plugin cost one round trip each too, and BitTorrent writes 16 KiB blocks.
// writeBuffer keeps writes until flushLimit bytes are pending (or anything reads, syncs or
// closes), then sends them sorted, adjacent ones merged into messages of up to mergeLimit bytes.
// A write the plugin later refuses fails the flush, and so the read or sync that caused it.
const flushLimit = 4 << 20

type pendingWrite struct {
	off  int64
	data []byte
}

type writeBuffer struct {
	mu      sync.Mutex // held while flushing: a read after a write sees it
	pending []pendingWrite
	bytes   int
}

// write queues b at off, flushing with send once enough is pending.
func (w *writeBuffer) write(b []byte, off int64, mergeLimit int, send func([]byte, int64) (int, error)) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pending = append(w.pending, pendingWrite{off: off, data: bytes.Clone(b)})
	w.bytes += len(b)
	if w.bytes < flushLimit {
		return nil
	}
	return w.flushLocked(mergeLimit, send)
}

// flush sends everything pending.
func (w *writeBuffer) flush(mergeLimit int, send func([]byte, int64) (int, error)) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked(mergeLimit, send)
}

func (w *writeBuffer) flushLocked(mergeLimit int, send func([]byte, int64) (int, error)) error {
	if len(w.pending) == 0 {
		return nil
	}
	ps := w.pending
	w.pending, w.bytes = nil, 0
	// Stable: two writes to one place keep their order, so the later one lands last.
	slices.SortStableFunc(ps, func(a, b pendingWrite) int { return cmp.Compare(a.off, b.off) })
	var run []byte
	var runOff int64
	for _, p := range ps {
		if len(run) > 0 && runOff+int64(len(run)) == p.off && len(run)+len(p.data) <= mergeLimit {
			run = append(run, p.data...)
			continue
		}
		if len(run) > 0 {
			if _, err := send(run, runOff); err != nil {
				return err
			}
		}
		run, runOff = append([]byte(nil), p.data...), p.off
	}
	_, err := send(run, runOff)
	return err
}
