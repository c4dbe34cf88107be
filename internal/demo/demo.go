package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"
)

// Hostname is the name the workloads report: $HOSTNAME (the lab sets it to the pod's
// name), else the kernel's host name.
func Hostname() string {
	if h := os.Getenv("HOSTNAME"); h != "" {
		return h
	}
	h, _ := os.Hostname()
	return h
}

// ClientPath is the one path Handler answers differently: with the client's address
// ("<hostname> <client address>\n"), to see whether a service preserved it.
const ClientPath = "/client"

// Handler answers every GET with "<hostname> <local address>\n", and GET ClientPath with
// "<hostname> <client address>\n".
func Handler(hostname string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == ClientPath {
			client, _, _ := net.SplitHostPort(r.RemoteAddr)
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprintf(w, "%s %s\n", hostname, client)
			return
		}
		local := ""
		if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			if host, _, err := net.SplitHostPort(a.String()); err == nil {
				local = host
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "%s %s\n", hostname, local)
	})
}

// ServeHTTP serves Handler on port until ctx ends.
func ServeHTTP(ctx context.Context, port int, log *slog.Logger) error {
	return serve(ctx, port, Handler(Hostname()), log)
}

// serve serves h on port until ctx ends.
func serve(ctx context.Context, port int, h http.Handler, log *slog.Logger) error {
	l, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("listen on tcp port %d: %w", port, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("http server listening", "addr", l.Addr().String(), "hostname", Hostname())
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve http on port %d: %w", port, err)
	}
	return nil
}

// ServeUDPEcho sends every datagram received on port back to its sender until ctx ends.
func ServeUDPEcho(ctx context.Context, port int, log *slog.Logger) error {
	pc, err := net.ListenPacket("udp", net.JoinHostPort("", strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("listen on udp port %d: %w", port, err)
	}
	go func() {
		<-ctx.Done()
		pc.Close()
	}()
	log.Info("udp echo listening", "addr", pc.LocalAddr().String())
	buf := make([]byte, 65535)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("read udp port %d: %w", port, err)
		}
		if _, err := pc.WriteTo(buf[:n], from); err != nil {
			log.Warn("udp echo reply failed", "to", from.String(), "err", err)
		}
	}
}

// Fetch GETs url (a pod's stand-in for curl: the image has no other client) and copies
// the body to w; a status other than 2xx is an error naming it.
func Fetch(ctx context.Context, url string, timeout time.Duration, w io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("fetch %s: %w", url, err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return fmt.Errorf("fetch %s: read body: %w", url, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("fetch %s: %s", url, resp.Status)
	}
	return nil
}
