//go:build linux

package l4lb

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// ack builds the kernel's answer to request seq carrying errno (0 = success).
func ack(seq uint32, errno int32) []byte {
	b := make([]byte, unix.SizeofNlMsghdr, 36)
	b = binary.NativeEndian.AppendUint32(b, uint32(-errno))
	b = append(b, make([]byte, unix.SizeofNlMsghdr)...) // the echoed request header
	binary.NativeEndian.PutUint32(b[0:], uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:], unix.NLMSG_ERROR)
	binary.NativeEndian.PutUint32(b[8:], seq)
	return b
}

func TestParseAck(t *testing.T) {
	tests := []struct {
		name     string
		in       []byte
		wantDone bool
		wantErr  error
	}{
		{name: "success", in: ack(1, 0), wantDone: true},
		{name: "exists", in: ack(1, int32(unix.EEXIST)), wantDone: true, wantErr: unix.EEXIST},
		{name: "not permitted", in: ack(1, int32(unix.EPERM)), wantDone: true, wantErr: unix.EPERM},
		{name: "other sequence ignored", in: ack(7, int32(unix.EPERM))},
		{name: "shorter than a header: wait for more", in: ack(1, 0)[:10]},
		{name: "header longer than the datagram", in: ack(1, 0)[:20], wantDone: true, wantErr: syscall.EINVAL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done, err := parseAck(tt.in, 1)
			if done != tt.wantDone || (tt.wantErr == nil) != (err == nil) || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
				t.Errorf("parseAck = %v, %v; want %v, %v", done, err, tt.wantDone, tt.wantErr)
			}
		})
	}
}

func TestAddrMessage(t *testing.T) {
	for _, ip := range []string{"11.0.0.7", "fd00::7"} {
		a := netip.MustParseAddr(ip)
		b := addrMessage(unix.RTM_NEWADDR, unix.NLM_F_REQUEST, 3, 1, a)
		msgs, err := syscall.ParseNetlinkMessage(b)
		if err != nil || len(msgs) != 1 {
			t.Fatalf("%s: parse own request: %v (%d messages)", ip, err, len(msgs))
		}
		m := msgs[0]
		if m.Header.Type != unix.RTM_NEWADDR || m.Header.Seq != 3 || int(m.Header.Len) != len(b) {
			t.Errorf("%s: header %+v", ip, m.Header)
		}
		bits := map[bool]byte{true: 128, false: 32}[a.Is6()]
		if m.Data[1] != bits || m.Data[3] != unix.RT_SCOPE_HOST {
			t.Errorf("%s: prefix length %d scope %d; want %d, host", ip, m.Data[1], m.Data[3], bits)
		}
		attrs, err := syscall.ParseNetlinkRouteAttr(&m)
		if err != nil || len(attrs) != 2 {
			t.Fatalf("%s: attributes: %v (%d)", ip, err, len(attrs))
		}
		for _, at := range attrs {
			if got, _ := netip.AddrFromSlice(at.Value); got != a {
				t.Errorf("%s: attribute %d holds %v", ip, at.Attr.Type, got)
			}
		}
	}
}

// FuzzParseAck feeds arbitrary datagrams to the parser of the kernel's
// answers: it must never panic, and a datagram it accepts as the answer must
// say success or carry an errno.
func FuzzParseAck(f *testing.F) {
	f.Add(ack(1, 0))
	f.Add(ack(1, int32(unix.EEXIST)))
	f.Add(append(ack(2, 0), ack(1, int32(unix.EPERM))...))
	f.Add(ack(1, 0)[:17])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		done, err := parseAck(b, 1)
		if !done && err != nil {
			t.Fatalf("not done but error %v", err)
		}
	})
}
