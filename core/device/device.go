// Package device holds the one Device type of dist: content that is not a plain file, such as a
// raw partition reached through an origin-IO plugin. The swarm stores torrents in one, publishers
// read one, and plugins implement it.
package device

import "io"

// Device is an opened URI of fixed size whose content takes its first bytes. ReadAt and WriteAt
// follow io.ReaderAt and io.WriterAt; they may be called from many goroutines at once.
type Device interface {
	io.ReaderAt
	io.WriterAt
	Size() int64
	BlockSize() int64 // the device's preferred I/O unit (512, 4096, …); 0 when it has none
	Sync() error
	Close() error
}
