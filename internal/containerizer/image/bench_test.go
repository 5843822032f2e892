package image_test

import (
	"os"
	"slices"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/basalt-dcos/basalt/internal/containerizer/image"
	"github.com/basalt-dcos/basalt/internal/containerizer/image/imagetest"
)

// BenchmarkFirstPull pulls a small image (one layer: tasksh, a static Go
// binary of ~4 MB, and /etc files) from an in-process registry over
// loopback into an empty cache, each iteration into a new cache. Run with
// -benchtime=20x.
func BenchmarkFirstPull(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	reg := imagetest.StartRegistry(b)
	img := imagetest.ShellImage(b, imagetest.Tasksh(b), v1.Config{Env: []string{"PATH=/bin"}})
	ref := reg.Push(b, "app:1", img)
	if size, err := img.Size(); err == nil {
		b.Logf("manifest %d bytes", size)
	}
	var lat []time.Duration
	for b.Loop() {
		b.StopTimer()
		s, err := image.New(image.Config{Dir: b.TempDir(), InsecureRegistries: []string{reg.Host}}, image.Deps{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		if _, err := s.Get(b.Context(), image.Request{Name: ref}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
	}
}
