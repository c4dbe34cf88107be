package agent

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/trellisnet/trellis/internal/dataplane/nft"
	"github.com/trellisnet/trellis/internal/netns"
)

// nftables netlink constants (linux/netfilter/nf_tables.h, nfnetlink.h).
const (
	nfnlSubsysNFTables = 10
	nftMsgNewGen       = 15
	nfnlGroupNFTables  = 7
	nfprotoInet        = 1
	// Attribute 1 of every table, chain, rule, set, element, object and flowtable message
	// is the table's name (NFTA_TABLE_NAME, NFTA_CHAIN_TABLE, NFTA_RULE_TABLE, ...); of a
	// NEWGEN message it is the generation (NFTA_GEN_ID).
	nftaTable = 1
	nftaGenID = 1
	// monitorBuffer is the receive buffer asked for (as root): a full sync of a large
	// table notifies every rule and element.
	monitorBuffer = 32 << 20
)

// NFTMonitor returns a Dataplane.Monitor that listens, in namespace ns ("" for the
// process's own), to the kernel's nftables notifications (the netlink group `nft monitor`
// uses, read without formatting) and calls changed with the generation of every committed
// transaction that touched the inet table: a table, chain, rule, set or element added,
// deleted or flushed. Lost notifications (a full receive buffer, a gap in the generations)
// are reported as the generations they may have hidden, or 0 when unknown, never dropped.
func NFTMonitor(ns, table string) func(ctx context.Context, r MonitorReport) error {
	return func(ctx context.Context, r MonitorReport) error {
		fd, err := nfnlSocket(ns, true)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		m := nftMonitor{table: table, changed: r.Changed, clean: r.Clean}
		buf := make([]byte, 1<<20)
		for ctx.Err() == nil {
			n, _, err := unix.Recvfrom(fd, buf, 0)
			switch {
			case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
				continue
			case errors.Is(err, unix.ENOBUFS):
				m.lost = true // notifications were dropped: the next generation may hide ours
				continue
			case err != nil:
				return fmt.Errorf("read nftables notifications: %w", err)
			}
			m.parse(buf[:n])
		}
		return nil
	}
}

// nftMonitor follows the notification stream: the messages of one transaction, then its
// NEWGEN message.
type nftMonitor struct {
	table   string
	changed func(gen uint32)
	clean   func(gen uint32) // optional: a generation seen whole that did not touch the table
	touched bool             // a message of the current transaction named the table
	lost    bool             // notifications were lost since the last NEWGEN
	last    uint32           // the last generation seen; 0: none yet
}

// parse handles one datagram of netlink messages.
func (m *nftMonitor) parse(b []byte) {
	for len(b) >= unix.NLMSG_HDRLEN {
		l := int(binary.NativeEndian.Uint32(b[0:4]))
		typ := binary.NativeEndian.Uint16(b[4:6])
		if l < unix.NLMSG_HDRLEN || l > len(b) {
			m.lost = true
			return
		}
		if typ>>8 == nfnlSubsysNFTables && l >= unix.NLMSG_HDRLEN+4 {
			m.message(uint8(typ), b[unix.NLMSG_HDRLEN:l])
		}
		b = b[min(nlAlign(l), len(b)):]
	}
}

// message handles one nftables message (after the netlink header): nfgenmsg, attributes.
func (m *nftMonitor) message(typ uint8, p []byte) {
	family, attrs := p[0], p[4:]
	if typ != nftMsgNewGen {
		if family == nfprotoInet && string(nlAttr(attrs, nftaTable)) == m.table+"\x00" {
			m.touched = true
		}
		return
	}
	v := nlAttr(attrs, nftaGenID)
	if len(v) != 4 {
		m.lost = true
		return
	}
	gen := binary.BigEndian.Uint32(v)
	if m.lost && m.last != 0 {
		// Lost messages may have named the table in any generation since the last one.
		if gap := gen - m.last; gap > 1 && gap <= 1024 {
			for g := m.last + 1; g != gen; g++ {
				m.changed(g)
			}
		} else if gap > 1024 {
			m.changed(0)
		}
	}
	switch {
	case m.touched || m.lost:
		m.changed(gen)
	case m.clean != nil && m.last != 0 && gen == m.last+1:
		m.clean(gen)
	}
	m.touched, m.lost, m.last = false, false, gen
}

// nlAttr returns the payload of the first attribute of type typ, or nil.
func nlAttr(b []byte, typ uint16) []byte {
	for len(b) >= unix.SizeofNlAttr {
		l := int(binary.NativeEndian.Uint16(b[0:2]))
		t := binary.NativeEndian.Uint16(b[2:4]) &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
		if l < unix.SizeofNlAttr || l > len(b) {
			return nil
		}
		if t == typ {
			return b[unix.SizeofNlAttr:l]
		}
		b = b[min(nlAlign(l), len(b)):]
	}
	return nil
}

func nlAlign(l int) int { return (l + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }

// nfnlSocket opens a netfilter netlink socket in namespace ns ("" for the process's own),
// subscribed to nftables notifications when listen is set. Reads time out every 250 ms so
// that a reader notices the end of its context.
func nfnlSocket(ns string, listen bool) (int, error) {
	fd := -1
	open := func() error {
		var err error
		fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
		return err
	}
	var err error
	if ns == "" {
		err = open()
	} else {
		err = netns.Do(ns, open)
	}
	if err != nil {
		return -1, fmt.Errorf("open netfilter netlink socket: %w", err)
	}
	sa := &unix.SockaddrNetlink{Family: unix.AF_NETLINK}
	if listen {
		sa.Groups = 1 << (nfnlGroupNFTables - 1)
		// Best effort: without CAP_NET_ADMIN the default buffer stays, and a loss is
		// reported as such.
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, monitorBuffer)
	}
	tv := unix.NsecToTimeval((250 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("set netlink socket timeout: %w", err)
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("bind netfilter netlink socket: %w", err)
	}
	return fd, nil
}

// NFTGeneration returns a Dataplane.Generation that reads the nftables generation in
// namespace ns ("" for the process's own), through the dataplane's one reader.
func NFTGeneration(ns string) func() (uint32, error) {
	return func() (uint32, error) { return nft.Generation(context.Background(), ns) }
}
