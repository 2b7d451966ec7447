//go:build !linux

package lowat

// Elsewhere the mark is left alone: kqueue and Windows treat it otherwise, and a batch is only
// a saving.
const supported = false

func setLowat(uintptr, int) {}
