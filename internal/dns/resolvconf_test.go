package dns

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestHostResolvers(t *testing.T) {
	p := filepath.Join(t.TempDir(), "resolv.conf")
	body := "# comment\nsearch example.com\nnameserver 10.0.0.2\nnameserver 127.0.0.1\nnameserver ::1\nnameserver bogus\noptions ndots:2\n"
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	self := func(ap netip.AddrPort) bool { return ap.Addr().String() == "127.0.0.1" }
	got := HostResolvers(p, self)
	if want := []string{"10.0.0.2:53", "[::1]:53"}; !slices.Equal(got, want) {
		t.Errorf("HostResolvers = %q, want %q", got, want)
	}
	if got := HostResolvers(filepath.Join(t.TempDir(), "missing"), nil); got != nil {
		t.Errorf("missing file: %q", got)
	}
}
