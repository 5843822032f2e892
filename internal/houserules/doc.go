// Package houserules holds no production code: its tests walk the source
// tree with go/parser and enforce the house rules of the Basalt style guide (import
// boundaries, package names, package doc comments, where the process may
// exit, and no package-level mutable state). Nothing may import it.
package houserules
