// Package util is a grab bag.
package util
