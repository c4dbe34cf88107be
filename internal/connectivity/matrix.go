package connectivity

import (
	"encoding/json"
	"fmt"
	"io"
)

// Verdicts of a Row.
const (
	VerdictAllow   = "allow"
	VerdictDeny    = "deny"
	VerdictUnknown = "unknown" // no addresses of the asked family
)

// Row is one ordered pair on one port: the connectivity matrix's row, whether the verdict
// comes from the calculation or from real packets. Without a family it has exactly the
// shape of `trellis policy matrix -o json`.
type Row struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Port    string `json:"port"`
	Verdict string `json:"verdict"`
	// Family is the address family (4 or 6) the verdict is for; 0: IPv4 first.
	Family int `json:"family,omitempty"`
}

// Matrix gives the calculation's verdict for every port and every ordered pair of the
// scenario's pods, in that order (port, from, to). With family 0 each pair uses its first
// addresses of one family (IPv4 first) and a pair that cannot be traced is denied; with
// 4 or 6 a pair without addresses of the family is "unknown".
func (s *Scenario) Matrix(ports []Port, family int) []Row {
	out := make([]Row, 0, len(ports)*len(s.Names)*len(s.Names))
	for _, p := range ports {
		for _, from := range s.Names {
			for _, to := range s.Names {
				v := VerdictDeny
				if family != 0 {
					v = s.Verdict(from, to, p, family)
				} else if res, err := s.Trace(from, to, p); err == nil {
					v = verdictWord(res.Verdict)
				}
				out = append(out, Row{From: from, To: to, Port: p.String(), Verdict: v, Family: family})
			}
		}
	}
	return out
}

// Compare computes the calculation's verdict for every probed row with the row's address
// family and returns one line for every row (other than a pod with itself) where they
// disagree.
func (s *Scenario) Compare(probed []Row) ([]string, error) {
	ports := map[string]Port{}
	var diffs []string
	for _, r := range probed {
		if r.From == r.To {
			continue
		}
		p, ok := ports[r.Port]
		if !ok {
			var err error
			if p, err = ParsePort(r.Port); err != nil {
				return nil, fmt.Errorf("compare %s -> %s: %w", r.From, r.To, err)
			}
			ports[r.Port] = p
		}
		if v := s.Verdict(r.From, r.To, p, r.Family); v != r.Verdict {
			fam := ""
			if r.Family != 0 {
				fam = fmt.Sprintf(" IPv%d", r.Family)
			}
			diffs = append(diffs, fmt.Sprintf("%s -> %s %s%s: packets %s, calculation %s", r.From, r.To, r.Port, fam, r.Verdict, v))
		}
	}
	return diffs, nil
}

// WriteJSON writes {"results": rows} (an empty list, never null).
func WriteJSON(w io.Writer, rows []Row) error {
	if rows == nil {
		rows = []Row{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{"results": rows})
}

// WriteTable writes one grid per port (rows: from, columns: to; "." allow, "X" deny or
// unknown). rows are in Matrix's order: port, from, to over names.
func WriteTable(w io.Writer, names []string, ports []Port, rows []Row) error {
	if len(rows) != len(ports)*len(names)*len(names) {
		return fmt.Errorf("write matrix: %d results for %d ports and %d pods", len(rows), len(ports), len(names))
	}
	i := 0
	for _, p := range ports {
		fmt.Fprintf(w, "%s (rows: from, columns: to; . allow, X deny)\n", p)
		for j, n := range names {
			fmt.Fprintf(w, "  %3d %s\n", j, n)
		}
		fmt.Fprintf(w, "     ")
		for j := range names {
			fmt.Fprintf(w, " %3d", j)
		}
		fmt.Fprintln(w)
		for j := range names {
			fmt.Fprintf(w, "  %3d", j)
			for range names {
				mark := "X"
				if rows[i].Verdict == VerdictAllow {
					mark = "."
				}
				fmt.Fprintf(w, " %3s", mark)
				i++
			}
			fmt.Fprintln(w)
		}
	}
	return nil
}
