// Command basalt is the single binary of a Basalt cluster: masters, agents,
// the single-node `basalt up`, and the dcos-style client commands.
package main

func main() {}
