package main

import (
	"os"

	"dist/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:])) }
