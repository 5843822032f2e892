package clusterstore

import (
	"fmt"
	"testing"
)

// BenchmarkAttached is what every client command pays to find its target:
// scan the store for the attached marker, check the mode, parse the file.
func BenchmarkAttached(b *testing.B) {
	s := Store{Dir: b.TempDir()}
	for i := range 20 {
		c := newCluster(fmt.Sprintf("cluster-%02d", i), fmt.Sprintf("c%d", i), "https://c.example")
		if err := s.Save(c); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Attach("cluster-13"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Attached(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseConfig(b *testing.B) {
	data := []byte(sample)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParseConfig(data); err != nil {
			b.Fatal(err)
		}
	}
}
