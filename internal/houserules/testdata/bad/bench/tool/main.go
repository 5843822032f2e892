// Command tool is a benchmark driver: a command, so it may exit.
package main

import "os"

func main() { os.Exit(0) }
