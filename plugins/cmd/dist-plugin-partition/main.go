// Command dist-plugin-partition is the origin-IO plugin that lets dist publish a raw partition and
// write a distribution straight into one: partition:///dev/sdb1. The dist daemon starts it.
package main

import (
	"os"

	"dist/plugins"
	"dist/plugins/partition"
)

// version is stamped at build time like dist's own.
var version = "dev"

func main() {
	plugins.Logger().Info("partition plugin serving", "pid", os.Getpid())
	plugins.ServeOriginIO(plugins.Info{Name: partition.Name, Version: version}, partition.Plugin{})
}
