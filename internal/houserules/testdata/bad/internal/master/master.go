// Package master is guarded.
package master

// cache is read-only (says the comment, but the code disagrees).
var cache = map[string]int{}

// Put mutates package state.
func Put(k string) {
	cache[k] = 1
	local := map[string]int{}
	local[k] = 1
}

var table = map[string]bool{ // read-only
	"a": true,
}
