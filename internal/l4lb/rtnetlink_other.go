//go:build !linux

package l4lb

import (
	"errors"
	"net/netip"
)

// rtnlAddrs cannot add addresses outside Linux; VIPs are then not served.
type rtnlAddrs struct {
	ifname string
}

func (rtnlAddrs) add(netip.Addr) (bool, error) { return false, errors.ErrUnsupported }
func (rtnlAddrs) remove(netip.Addr) error      { return errors.ErrUnsupported }

func ipvsAvailable() bool { return false }
