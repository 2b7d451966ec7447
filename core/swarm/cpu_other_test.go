//go:build !unix

package swarm

// processCPU is not measured here: the benchmark reports no CPU figure.
func processCPU() float64 { return -1e18 }
