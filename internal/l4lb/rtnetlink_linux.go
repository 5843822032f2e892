//go:build linux

package l4lb

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// rtnlAddrs adds and removes VIP addresses on one interface through
// rtnetlink. It is a few dozen lines over golang.org/x/sys/unix instead of a
// netlink library: the balancer needs exactly two requests.
type rtnlAddrs struct {
	ifname string
}

// add puts ip/32 (or /128) on the interface with host scope. added is false
// when the address was already there (someone else owns it).
func (a rtnlAddrs) add(ip netip.Addr) (added bool, err error) {
	err = a.request(unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_EXCL, ip)
	if errors.Is(err, unix.EEXIST) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("add address %s to %s: %w", ip, a.ifname, err)
	}
	return true, nil
}

// remove takes ip off the interface; an address already gone is not an error.
func (a rtnlAddrs) remove(ip netip.Addr) error {
	err := a.request(unix.RTM_DELADDR, 0, ip)
	if errors.Is(err, unix.EADDRNOTAVAIL) || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove address %s from %s: %w", ip, a.ifname, err)
	}
	return nil
}

func (a rtnlAddrs) request(typ uint16, flags uint16, ip netip.Addr) error {
	ifi, err := net.InterfaceByName(a.ifname)
	if err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return os.NewSyscallError("socket", err)
	}
	defer unix.Close(fd)
	// The kernel answers at once; the timeout only guards against a hang.
	tv := unix.Timeval{Sec: 5}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return os.NewSyscallError("setsockopt", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return os.NewSyscallError("bind", err)
	}
	const seq = 1
	msg := addrMessage(typ, unix.NLM_F_REQUEST|unix.NLM_F_ACK|flags, seq, ifi.Index, ip)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return os.NewSyscallError("sendto", err)
	}
	buf := make([]byte, 8192)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return os.NewSyscallError("recvfrom", err)
		}
		done, err := parseAck(buf[:n], seq)
		if done {
			return err
		}
	}
}

// addrMessage builds an RTM_NEWADDR/RTM_DELADDR request for a host address.
func addrMessage(typ, flags uint16, seq uint32, ifindex int, ip netip.Addr) []byte {
	family, bits := byte(unix.AF_INET), byte(32)
	var ifaFlags byte
	if ip.Is6() {
		// No duplicate address detection: a tentative address cannot be bound.
		family, bits, ifaFlags = unix.AF_INET6, 128, unix.IFA_F_NODAD
	}
	raw := ip.AsSlice()
	attr := func(b []byte, typ uint16) []byte {
		l := unix.SizeofRtAttr + len(raw)
		b = binary.NativeEndian.AppendUint16(b, uint16(l))
		b = binary.NativeEndian.AppendUint16(b, typ)
		b = append(b, raw...)
		for len(b)%unix.NLMSG_ALIGNTO != 0 {
			b = append(b, 0)
		}
		return b
	}
	b := make([]byte, unix.SizeofNlMsghdr, 64)
	b = append(b, family, bits, ifaFlags, unix.RT_SCOPE_HOST)
	b = binary.NativeEndian.AppendUint32(b, uint32(ifindex))
	b = attr(b, unix.IFA_LOCAL)
	b = attr(b, unix.IFA_ADDRESS)
	binary.NativeEndian.PutUint32(b[0:], uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:], typ)
	binary.NativeEndian.PutUint16(b[6:], flags)
	binary.NativeEndian.PutUint32(b[8:], seq)
	return b
}

// parseAck reads one datagram from the kernel. done is true when it holds
// the acknowledgement of request seq; err is then the kernel's answer. A
// malformed datagram ends the exchange with an error.
func parseAck(b []byte, seq uint32) (done bool, err error) {
	msgs, err := syscall.ParseNetlinkMessage(b)
	if err != nil {
		return true, fmt.Errorf("parse netlink answer: %w", err)
	}
	for _, m := range msgs {
		if m.Header.Seq != seq {
			continue
		}
		switch m.Header.Type {
		case unix.NLMSG_ERROR:
			if len(m.Data) < 4 {
				return true, errors.New("parse netlink answer: short error message")
			}
			code := int32(binary.NativeEndian.Uint32(m.Data))
			if code == 0 {
				return true, nil
			}
			if code > 0 {
				code = -code
			}
			return true, syscall.Errno(-code)
		case unix.NLMSG_DONE:
			return true, nil
		}
	}
	return false, nil
}

// ipvsAvailable reports whether the kernel offers IPVS (the later kernel
// backend). /proc/net/ip_vs exists once the ip_vs module is loaded or built in.
func ipvsAvailable() bool {
	_, err := os.Stat("/proc/net/ip_vs")
	return err == nil
}
