package dns

import (
	"errors"
	"fmt"
	"net"
	"strconv"
)

// ListenPair binds UDP and TCP on the same address. With port 0 it binds
// UDP on a free port first and then TCP on that port, trying again with
// another port a few times when TCP's is taken.
func ListenPair(addr string) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, fmt.Errorf("dns listen %s: %w", addr, err)
	}
	if port != "0" {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("dns listen udp %s: %w", addr, err)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			pc.Close()
			return nil, nil, fmt.Errorf("dns listen tcp %s: %w", addr, err)
		}
		return pc, ln, nil
	}
	var errs []error
	for range 10 {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return nil, nil, fmt.Errorf("dns listen udp %s: %w", addr, err)
		}
		p := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err == nil {
			return pc, ln, nil
		}
		pc.Close()
		errs = append(errs, err)
	}
	return nil, nil, fmt.Errorf("dns listen %s: no port free for both udp and tcp: %w", addr, errors.Join(errs...))
}
