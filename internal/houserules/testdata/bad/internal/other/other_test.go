package other

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) { os.Exit(m.Run()) }

var table = []int{1} // test files may hold tables

func helper() {
	os.Exit(2)
}
