package lab

import (
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/trellisnet/trellis/internal/connectivity"
)

// ParsePort parses the ports real packets can probe: tcp/80 (a connection) or udp/53 (a
// datagram and its echo from `trellis demo udp-echo`).
func ParsePort(s string) (connectivity.Port, error) {
	p, err := connectivity.ParsePort(s)
	if err != nil || (p.Proto != "tcp" && p.Proto != "udp") {
		return connectivity.Port{}, fmt.Errorf("invalid port %q: want tcp/PORT or udp/PORT with PORT 1-65535", s)
	}
	return p, nil
}

// MatrixOptions selects what `lab matrix` probes.
type MatrixOptions struct {
	// Namespaces limits the pods to these namespaces; empty: every namespace but
	// kube-system, where the lab runs its DNS.
	Namespaces []string
	// Ports are tcp or udp ports (see ParsePort).
	Ports []connectivity.Port
	// Family is "4", "6", "all" or "": all when every selected pod has an IPv4 and an
	// IPv6 address, else 4.
	Family string
	// Timeout is how long a probe waits before it counts as not connected: a probe
	// without an answer within a short first timeout is tried again with this one.
	Timeout time.Duration
	// Concurrency is the number of probes in flight (default 1024).
	Concurrency int
	// Progress, when set, is called as probes finish.
	Progress func(done, total int)
}

// Matrix is the result of probing every ordered pair of pods on every port over real
// packets, per address family.
type Matrix struct {
	Names    []string
	Families []int
	Ports    []connectivity.Port
	// Rows are ordered by family, port, from, to; each carries its family.
	Rows []connectivity.Row
}

// WriteTable writes one grid per family and port (a family heading when there are two).
func (m *Matrix) WriteTable(w io.Writer) error {
	per := len(m.Names) * len(m.Names) * len(m.Ports)
	if len(m.Rows) != per*len(m.Families) {
		return fmt.Errorf("write matrix: %d results for %d families", len(m.Rows), len(m.Families))
	}
	for i, f := range m.Families {
		if len(m.Families) > 1 {
			fmt.Fprintf(w, "IPv%d\n", f)
		}
		if err := connectivity.WriteTable(w, m.Names, m.Ports, m.Rows[i*per:(i+1)*per]); err != nil {
			return err
		}
	}
	return nil
}

// matrixPods returns, sorted, the pods (keys of addrs) in the namespaces asked for, or in
// every namespace but the lab's own DNS namespace when none is asked for.
func matrixPods(addrs map[string][]netip.Addr, namespaces []string) []string {
	var names []string
	for k := range addrs {
		ns, _, _ := strings.Cut(k, "/")
		if (len(namespaces) == 0 && ns != DNSNamespace) || slices.Contains(namespaces, ns) {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	return names
}

// matrixFamilies resolves MatrixOptions.Family for the selected pods. An explicit family
// some pod lacks an address of is an error naming the pod.
func matrixFamilies(flag string, names []string, addrs map[string][]netip.Addr) ([]int, error) {
	if flag == "" {
		both := len(names) > 0
		for _, n := range names {
			_, v4 := connectivity.AddrOfFamily(addrs[n], 4)
			_, v6 := connectivity.AddrOfFamily(addrs[n], 6)
			both = both && v4 && v6
		}
		if both {
			return []int{4, 6}, nil
		}
		return []int{4}, nil
	}
	fams, err := connectivity.ParseFamilies(flag)
	if err != nil {
		return nil, err
	}
	for _, f := range fams {
		for _, n := range names {
			if _, ok := connectivity.AddrOfFamily(addrs[n], f); !ok {
				return nil, fmt.Errorf("matrix: pod %s has no IPv%d address", n, f)
			}
		}
	}
	return fams, nil
}

// matrixProbes lists the probes of a matrix in Rows' order.
func matrixProbes(names []string, fams []int, ports []connectivity.Port, addrs map[string][]netip.Addr) ([]ProbeSpec, []int) {
	var probes []ProbeSpec
	var pfam []int
	for _, f := range fams {
		for _, p := range ports {
			for _, from := range names {
				for _, to := range names {
					a, _ := connectivity.AddrOfFamily(addrs[to], f)
					probes = append(probes, ProbeSpec{From: from, To: to, Addr: a, Port: p})
					pfam = append(pfam, f)
				}
			}
		}
	}
	return probes, pfam
}
