package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/trellisnet/trellis/internal/netns"
)

// Forward is `trellis lab forward`: it listens on the machine's loopback at listen and
// relays every connection to the API server on the lab's fabric, dialled from inside the
// control-plane namespace. The machine's network is not joined to the fabric, so this is
// how kubectl on the machine (lab kubectl, the admin kubeconfig) reaches the lab.
func Forward(ctx context.Context, name, listen string, log *slog.Logger) error {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("lab forward: --listen %q: %w", listen, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("lab forward: --listen %q: only a loopback address is allowed", listen)
	}
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("lab forward: %w", err)
	}
	go func() {
		<-ctx.Done()
		l.Close()
	}()
	target := net.JoinHostPort(controlPlaneAddr().Addr().String(), strconv.Itoa(apiPort))
	log.Info("forwarding", "listen", listen, "to", target, "namespace", ControlPlaneNS(name))
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			// Out of descriptors (a client leaking connections): wait for some to close.
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				log.Warn("accept: out of file descriptors; waiting", "err", err)
				time.Sleep(100 * time.Millisecond)
				continue
			}
			return fmt.Errorf("lab forward: accept: %w", err)
		}
		go relay(c, name, target, log)
	}
}

func relay(c net.Conn, name, target string, log *slog.Logger) {
	defer c.Close()
	var up net.Conn
	err := netns.Do(ControlPlaneNS(name), func() error {
		var err error
		up, err = net.DialTimeout("tcp", target, 5*time.Second)
		return err
	})
	if err != nil {
		log.Warn("dial the API server", "to", target, "err", err)
		return
	}
	defer up.Close()
	var wg sync.WaitGroup
	wg.Go(func() {
		_, _ = io.Copy(up, c)
		if tc, ok := up.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	})
	_, _ = io.Copy(c, up)
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	wg.Wait()
}
