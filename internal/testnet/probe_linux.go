package testnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trellisnet/trellis/internal/netns"
)

// Protocols understood by Probe.
const (
	TCP  = "tcp"
	UDP  = "udp"
	ICMP = "icmp"
)

// Server is a TCP and UDP echo server on one port in one namespace, dual-stack.
type Server struct {
	tcp net.Listener
	udp net.PacketConn
}

// Serve starts echo servers for TCP and UDP on port inside ns; they stop in t.Cleanup.
func Serve(t testing.TB, ns string, port int) *Server {
	t.Helper()
	s, err := Listen(ns, port)
	if err != nil {
		t.Fatalf("serve in %s: %v", ns, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Listen starts TCP and UDP echo servers on port inside ns.
func Listen(ns string, port int) (*Server, error) {
	s := &Server{}
	addr := ":" + strconv.Itoa(port)
	err := netns.Do(ns, func() error {
		var err error
		if s.tcp, err = net.Listen("tcp", addr); err != nil {
			return err
		}
		s.udp, err = net.ListenPacket("udp", addr)
		return err
	})
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("listen on %s in %s: %w", addr, ns, err)
	}
	go s.serveTCP()
	go s.serveUDP()
	return s, nil
}

// Close stops the servers.
func (s *Server) Close() {
	if s.tcp != nil {
		s.tcp.Close()
	}
	if s.udp != nil {
		s.udp.Close()
	}
}

func (s *Server) serveTCP() {
	for {
		c, err := s.tcp.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			_, _ = io.Copy(c, c)
		}()
	}
}

func (s *Server) serveUDP() {
	buf := make([]byte, 2048)
	for {
		n, from, err := s.udp.ReadFrom(buf)
		if err != nil {
			return
		}
		_, _ = s.udp.WriteTo(buf[:n], from)
	}
}

// ErrNoReply means a probe got no answer within its timeout (the packet was dropped).
var ErrNoReply = errors.New("no reply")

// Probe sends one probe of proto from namespace ns to dst (port is ignored for ICMP) and
// returns nil when the echo came back.
func Probe(ns, proto string, dst netip.Addr, port int, timeout time.Duration) error {
	var err error
	switch proto {
	case TCP:
		err = probeTCP(ns, netip.AddrPortFrom(dst, uint16(port)), timeout)
	case UDP:
		err = probeUDP(ns, netip.AddrPortFrom(dst, uint16(port)), timeout)
	case ICMP:
		err = Ping(ns, dst, timeout)
	default:
		return fmt.Errorf("probe %s: unknown protocol %q", dst, proto)
	}
	if err != nil {
		return fmt.Errorf("probe %s %s:%d from %s: %w", proto, dst, port, ns, err)
	}
	return nil
}

func timeoutErr(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return ErrNoReply
	}
	return err
}

// DialTCP connects to dst from inside ns.
func DialTCP(ns string, dst netip.AddrPort, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := netns.Do(ns, func() error {
		var err error
		c, err = net.DialTimeout("tcp", dst.String(), timeout)
		return err
	})
	return c, err
}

func probeTCP(ns string, dst netip.AddrPort, timeout time.Duration) error {
	c, err := DialTCP(ns, dst, timeout)
	if err != nil {
		return timeoutErr(err)
	}
	defer c.Close()
	return echo(c, timeout)
}

func probeUDP(ns string, dst netip.AddrPort, timeout time.Duration) error {
	var c net.Conn
	err := netns.Do(ns, func() error {
		var err error
		c, err = net.Dial("udp", dst.String())
		return err
	})
	if err != nil {
		return err
	}
	defer c.Close()
	return echo(c, timeout)
}

var probeSeq atomic.Uint32

func echo(c net.Conn, timeout time.Duration) error {
	_ = c.SetDeadline(time.Now().Add(timeout))
	msg := []byte("trellis-probe-" + strconv.Itoa(int(probeSeq.Add(1))))
	if _, err := c.Write(msg); err != nil {
		return timeoutErr(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return timeoutErr(err)
	}
	if string(got) != string(msg) {
		return fmt.Errorf("echo mismatch: sent %q, got %q", msg, got)
	}
	return nil
}

// Ping sends one ICMP (or ICMPv6) echo request from inside ns through a raw socket and
// waits for the matching reply.
func Ping(ns string, dst netip.Addr, timeout time.Duration) error {
	network, reqType, repType := "ip4:icmp", byte(8), byte(0)
	if dst.Is6() {
		network, reqType, repType = "ip6:ipv6-icmp", 128, 129
	}
	var c net.PacketConn
	err := netns.Do(ns, func() error {
		var err error
		c, err = net.ListenPacket(network, "")
		return err
	})
	if err != nil {
		return fmt.Errorf("open raw socket: %w", err)
	}
	defer c.Close()
	id, seq := uint16(probeSeq.Add(1)), uint16(probeSeq.Add(1))
	req := make([]byte, 16)
	req[0] = reqType
	binary.BigEndian.PutUint16(req[4:], id)
	binary.BigEndian.PutUint16(req[6:], seq)
	copy(req[8:], "trellis!")
	if dst.Is4() { // the kernel fills in the ICMPv6 checksum itself
		binary.BigEndian.PutUint16(req[2:], checksum(req))
	}
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.WriteTo(req, &net.IPAddr{IP: net.IP(dst.AsSlice())}); err != nil {
		return timeoutErr(err)
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return timeoutErr(err)
		}
		src, _ := netip.AddrFromSlice(from.(*net.IPAddr).IP)
		if n < 8 || src.Unmap() != dst || buf[0] != repType {
			continue
		}
		if binary.BigEndian.Uint16(buf[4:]) == id && binary.BigEndian.Uint16(buf[6:]) == seq {
			return nil
		}
	}
}

func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}
