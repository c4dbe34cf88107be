package lab

import (
	"context"
	"fmt"

	"github.com/trellisnet/trellis/internal/connectivity"
)

// RunMatrix probes every ordered pair of the lab's running pods (see MatrixOptions) on
// every port, from inside the source pod, and returns the verdicts.
func RunMatrix(ctx context.Context, name string, o MatrixOptions) (*Matrix, error) {
	addrs, err := PodAddrs(ctx, name)
	if err != nil {
		return nil, err
	}
	names := matrixPods(addrs, o.Namespaces)
	fams, err := matrixFamilies(o.Family, names, addrs)
	if err != nil {
		return nil, err
	}
	probes, pfam := matrixProbes(names, fams, o.Ports, addrs)
	m := &Matrix{Names: names, Families: fams, Ports: o.Ports, Rows: make([]connectivity.Row, 0, len(probes))}
	po := ProbeOptions{Confirm: o.Timeout, Concurrency: o.Concurrency, Progress: o.Progress}
	for i, r := range ProbeAll(ctx, name, probes, po) {
		v := connectivity.VerdictDeny
		if r.Connected {
			v = connectivity.VerdictAllow
		}
		m.Rows = append(m.Rows, connectivity.Row{From: r.From, To: r.To, Port: r.Port, Verdict: v, Family: pfam[i]})
	}
	return m, nil
}

// CompareMatrix calculates, from the lab's datastore as it is now, the verdict of every
// probed row and returns the disagreements (see connectivity.Scenario.Compare).
func CompareMatrix(ctx context.Context, name string, rows []connectivity.Row) ([]string, error) {
	st, err := OpenStore(name)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	objs, err := connectivity.Objects(ctx, st)
	if err != nil {
		return nil, fmt.Errorf("compare: calculate the matrix: %w", err)
	}
	sc, err := connectivity.Build(objs, false)
	if err != nil {
		return nil, fmt.Errorf("compare: calculate the matrix: %w", err)
	}
	return sc.Compare(rows)
}
