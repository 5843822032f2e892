package other

import (
	"example.com/bad/internal/master"
	"log"
	"os"
)

// Do breaks the exit rule twice.
func Do() {
	os.Exit(1)
	log.Fatalf("x")
	master.Put("x")
}
