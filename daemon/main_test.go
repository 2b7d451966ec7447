package daemon_test

import (
	"flag"
	"os"
	"testing"
)

// TestMain runs the parallel tests of this package four at a time unless -parallel says
// otherwise: they are whole fleets on loopback that mostly wait on their peers and timers, so
// two at a time (GOMAXPROCS here) leaves the machine idle.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", "4")
	}
	os.Exit(m.Run())
}
