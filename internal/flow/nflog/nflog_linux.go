package nflog

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// nfnetlink_log protocol numbers (linux/netfilter/nfnetlink_log.h).
const (
	subsysULOG = 4
	msgPacket  = 0
	msgConfig  = 1

	attrCfgCmd     = 1
	attrCfgMode    = 2
	attrCfgTimeout = 4
	attrCfgQThresh = 5
	attrCfgFlags   = 6

	cmdBind   = 1
	cmdUnbind = 2

	copyPacket = 2
	flagSeq    = 1

	attrMark      = 2
	attrTimestamp = 3
	attrPayload   = 9
	attrPrefix    = 10
	attrSeq       = 12
)

// Config tunes a reader.
type Config struct {
	Group uint16
	// CopyRange is how many bytes of each packet the kernel copies (default 48: the IP and
	// transport headers).
	CopyRange uint32
	// Batch and Flush: the kernel sends when Batch messages wait or Flush has passed since
	// the first (defaults 32 and 50 ms), so a busy group costs few wake-ups.
	Batch uint32
	Flush time.Duration
	// ReadBuffer is the socket's receive buffer (default 4 MiB); what does not fit is lost
	// and counted.
	ReadBuffer int
}

// Reader reads one NFLOG group in the network namespace it was opened in.
type Reader struct {
	cfg   Config
	conn  *netlink.Conn
	mu    sync.Mutex
	stats Stats
	next  uint32 // the sequence number of the next message
}

// Open binds group cfg.Group in the current network namespace. Only one socket can bind
// a group in a namespace: a second gets an error naming the group.
func Open(cfg Config) (*Reader, error) {
	if cfg.Group == 0 {
		return nil, fmt.Errorf("nflog: group 0 is not a log group")
	}
	if cfg.CopyRange == 0 {
		cfg.CopyRange = 48
	}
	if cfg.Batch == 0 {
		cfg.Batch = 32
	}
	if cfg.Flush == 0 {
		cfg.Flush = 50 * time.Millisecond
	}
	if cfg.ReadBuffer == 0 {
		cfg.ReadBuffer = 4 << 20
	}
	conn, err := netlink.Dial(unix.NETLINK_NETFILTER, nil)
	if err != nil {
		return nil, fmt.Errorf("nflog group %d: open netlink socket: %w", cfg.Group, err)
	}
	r := &Reader{cfg: cfg, conn: conn}
	if err := r.configure(); err != nil {
		conn.Close()
		return nil, err
	}
	return r, nil
}

func (r *Reader) configure() error {
	// SO_RCVBUFFORCE (past net.core.rmem_max) needs CAP_NET_ADMIN, which binding a group
	// needs anyway.
	rc, err := r.conn.SyscallConn()
	if err != nil {
		return fmt.Errorf("nflog group %d: receive buffer: %w", r.cfg.Group, err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, r.cfg.ReadBuffer)
	}); err != nil || serr != nil {
		return fmt.Errorf("nflog group %d: receive buffer of %d bytes: %w", r.cfg.Group, r.cfg.ReadBuffer, errors.Join(err, serr))
	}
	cmd := func(b byte) []byte { return []byte{b} }
	mode := make([]byte, 6)
	binary.BigEndian.PutUint32(mode, r.cfg.CopyRange)
	mode[4] = copyPacket
	be32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	steps := []struct {
		what string
		typ  uint16
		data []byte
	}{
		{"bind", attrCfgCmd, cmd(cmdBind)},
		{"copy mode", attrCfgMode, mode},
		{"sequence numbers", attrCfgFlags, binary.BigEndian.AppendUint16(nil, flagSeq)},
		{"batch", attrCfgQThresh, be32(r.cfg.Batch)},
		{"flush timeout", attrCfgTimeout, be32(uint32(r.cfg.Flush / (10 * time.Millisecond)))},
	}
	for _, s := range steps {
		if err := r.config(s.typ, s.data); err != nil {
			if s.typ == attrCfgCmd && errors.Is(err, unix.EBUSY) {
				return fmt.Errorf("nflog group %d: bind: another process reads this group in this network namespace", r.cfg.Group)
			}
			return fmt.Errorf("nflog group %d: %s: %w", r.cfg.Group, s.what, err)
		}
	}
	return nil
}

// config sends one configuration attribute for the group and waits for the kernel's
// acknowledgement.
func (r *Reader) config(typ uint16, data []byte) error {
	ae := netlink.NewAttributeEncoder()
	ae.Bytes(typ, data)
	attrs, err := ae.Encode()
	if err != nil {
		return err
	}
	msg := netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(subsysULOG<<8 | msgConfig), Flags: netlink.Request | netlink.Acknowledge},
		Data:   append(nfgenmsg(unix.AF_UNSPEC, r.cfg.Group), attrs...),
	}
	_, err = r.conn.Execute(msg)
	return err
}

func nfgenmsg(family byte, group uint16) []byte {
	return []byte{family, 0, byte(group >> 8), byte(group)}
}

// Run reads packets and calls fn with each until ctx ends (then nil) or the socket fails.
// fn runs on Run's goroutine: it must not block for long, or the kernel drops messages.
func (r *Reader) Run(ctx context.Context, fn func(Packet)) error {
	stop := context.AfterFunc(ctx, func() { _ = r.conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	for {
		msgs, err := r.conn.Receive()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, unix.ENOBUFS) {
				continue // the socket overran: the next message's sequence number says by how much
			}
			return fmt.Errorf("nflog group %d: receive: %w", r.cfg.Group, err)
		}
		for _, m := range msgs {
			if m.Header.Type != netlink.HeaderType(subsysULOG<<8|msgPacket) || len(m.Data) < 4 {
				continue
			}
			p, seq, hasSeq, err := parseMessage(m.Data[4:])
			r.count(seq, hasSeq, err)
			if err == nil {
				fn(p)
			}
		}
	}
}

func (r *Reader) count(seq uint32, hasSeq bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.Packets++
	if err != nil {
		r.stats.Bad++
	}
	if hasSeq {
		// The group's instance numbers its messages from 0 when it is bound.
		if gap := seq - r.next; gap > 0 && gap < 1<<31 {
			r.stats.Lost += uint64(gap)
		}
		r.next = seq + 1
	}
}

func parseMessage(b []byte) (p Packet, seq uint32, hasSeq bool, err error) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return p, 0, false, err
	}
	ad.ByteOrder = binary.BigEndian
	var payload []byte
	for ad.Next() {
		switch ad.Type() {
		case attrPrefix:
			p.Prefix = string(bytes.TrimRight(ad.Bytes(), "\x00"))
		case attrPayload:
			payload = ad.Bytes()
		case attrSeq:
			seq, hasSeq = ad.Uint32(), true
		case attrMark:
			p.Mark = ad.Uint32()
		case attrTimestamp:
			if t := ad.Bytes(); len(t) == 16 {
				p.Time = time.Unix(int64(binary.BigEndian.Uint64(t)), int64(binary.BigEndian.Uint64(t[8:]))*1000)
			}
		}
	}
	if err := ad.Err(); err != nil {
		return p, seq, hasSeq, err
	}
	if p.Time.IsZero() {
		p.Time = time.Now()
	}
	return p, seq, hasSeq, parsePayload(payload, &p)
}

// Stats returns the counts so far.
func (r *Reader) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

// Close unbinds the group and closes the socket.
func (r *Reader) Close() error {
	_ = r.config(attrCfgCmd, []byte{cmdUnbind})
	return r.conn.Close()
}
