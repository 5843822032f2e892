package dns

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
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

func TestTaskNameserver(t *testing.T) {
	for _, c := range []struct{ listen, want string }{
		{"198.51.100.1:53", "198.51.100.1"},
		{"127.0.1.53:53", "127.0.1.53"},
		{":53", "127.0.0.1"},
		{"0.0.0.0:53", "127.0.0.1"},
		{"[::]:53", "::1"},
		{"[fd00::5]:53", "fd00::5"},
		{"[::ffff:10.0.0.5]:53", "10.0.0.5"},
	} {
		got, err := TaskNameserver(c.listen)
		if err != nil || got.String() != c.want {
			t.Errorf("TaskNameserver(%q) = %v, %v; want %s", c.listen, got, err, c.want)
		}
	}
	for _, bad := range []string{"127.0.0.1:5353", "127.0.0.1:0", "localhost:53", "127.0.0.1", ""} {
		if got, err := TaskNameserver(bad); err == nil {
			t.Errorf("TaskNameserver(%q) = %v, want an error", bad, got)
		}
	}
}

func TestTaskResolvConf(t *testing.T) {
	host := "# from DHCP\nnameserver 10.0.0.2\nnameserver 10.0.0.3\nsearch  corp.example   example.com\n" +
		"options ndots:2 timeout:1\n; old comment\nsortlist 10.0.0.0/255.0.0.0\nbogus line\nsearch\ndomain corp.example\noptions\x00evil x\n"
	got := string(TaskResolvConf([]byte(host), netip.MustParseAddr("198.51.100.1")))
	want := "# Written by the Basalt agent: the agent's DNS server (--dns-listen),\n" +
		"# then the search list and options of the host's /etc/resolv.conf.\n" +
		"nameserver 198.51.100.1\n" +
		"search corp.example example.com\n" +
		"options ndots:2 timeout:1\n" +
		"sortlist 10.0.0.0/255.0.0.0\n" +
		"domain corp.example\n"
	if got != want {
		t.Errorf("TaskResolvConf =\n%s\nwant\n%s", got, want)
	}
	// No host file: the nameserver alone.
	got = string(TaskResolvConf(nil, netip.MustParseAddr("::1")))
	if !strings.HasSuffix(got, ".conf.\nnameserver ::1\n") {
		t.Errorf("TaskResolvConf(nil) =\n%s", got)
	}
}

// FuzzTaskResolvConf: whatever the host's file holds, the task's names the
// agent's server and no other, keeps only known keywords, holds no control
// characters, and is a fixed point (rendering it again changes nothing).
func FuzzTaskResolvConf(f *testing.F) {
	f.Add([]byte("nameserver 10.0.0.2\nsearch a b\noptions ndots:5 rotate\n"))
	f.Add([]byte("domain x\r\nsortlist 1.2.3.4\n#c\n\n\tsearch  y\n"))
	f.Add([]byte("search \xff\x00\nnameserver\n"))
	ns := netip.MustParseAddr("127.0.1.53")
	f.Fuzz(func(t *testing.T, host []byte) {
		out := TaskResolvConf(host, ns)
		if !utf8.Valid(out) {
			t.Fatalf("invalid UTF-8: %q", out)
		}
		servers := 0
		for line := range strings.Lines(string(out)) {
			if !strings.HasSuffix(line, "\n") {
				t.Fatalf("unterminated line %q", line)
			}
			if strings.ContainsFunc(strings.TrimSuffix(line, "\n"), func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) {
				t.Fatalf("control character in %q", line)
			}
			f := strings.Fields(line)
			switch {
			case strings.HasPrefix(line, "#"):
			case len(f) == 2 && f[0] == "nameserver":
				servers++
				if f[1] != ns.String() {
					t.Fatalf("nameserver %q", f[1])
				}
			case len(f) >= 2 && slices.Contains([]string{"search", "domain", "sortlist", "options"}, f[0]):
			default:
				t.Fatalf("unexpected line %q in\n%s", line, out)
			}
		}
		if servers != 1 {
			t.Fatalf("%d nameserver lines in\n%s", servers, out)
		}
		if again := TaskResolvConf(out, ns); !bytes.Equal(again, out) {
			t.Fatalf("not a fixed point:\n%s\nthen\n%s", out, again)
		}
	})
}
