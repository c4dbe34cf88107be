package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"github.com/trellisnet/trellis/internal/dataplane/nft"
	"github.com/trellisnet/trellis/internal/netns"
)

// KernelDataplane opens the inet table in the network namespace ns ("" for the calling
// process's own) with the real nft, after checking that nft is 1.0.1 or newer (the error
// names the fix). Rule counters are read with `nft --json list table` in the same namespace.
func KernelDataplane(ctx context.Context, ns, table string) (Dataplane, error) {
	var dp Dataplane
	var err error
	if ns == "" {
		dp.NFT, err = nft.NewKernel(ctx, table)
	} else {
		dp.NFT, err = nft.NewKernelIn(ctx, ns, table)
	}
	if err != nil {
		return Dataplane{}, err
	}
	dp.Counters = NFTCounters(ns, table)
	dp.Monitor = NFTMonitor(ns, table)
	dp.Services = KernelServiceHost(ns)
	return dp, nil
}

// NFTMonitor returns a Dataplane.Monitor that watches, in namespace ns ("" for the
// process's own), for deletions of tables and chains (`nft monitor destroy tables` and
// `nft monitor destroy chains`) and notifies on each one naming the inet table. Element
// and rule events are not watched: every sync produces them by the thousand (a full sync
// flushes and refills everything), and formatting them would cost more than the periodic
// resync that repairs rule and element drift.
func NFTMonitor(ns, table string) func(ctx context.Context, notify func()) error {
	return func(ctx context.Context, notify func()) error {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		errs := make(chan error, 2)
		for _, what := range []string{"tables", "chains"} {
			go func() {
				errs <- monitorOne(ctx, ns, " inet "+table, notify, "monitor", "destroy", what)
				cancel() // one ended: stop the other, the caller restarts both
			}()
		}
		return errors.Join(<-errs, <-errs)
	}
}

// monitorOne runs one `nft monitor` and notifies on lines containing needle followed by
// a space or the end of the line.
func monitorOne(ctx context.Context, ns, needle string, notify func(), args ...string) error {
	cmd := exec.CommandContext(ctx, "nft", args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("nft %s: %w", strings.Join(args, " "), err)
	}
	start := cmd.Start
	if ns != "" {
		start = func() error { return netns.Do(ns, cmd.Start) }
	}
	if err := start(); err != nil {
		return fmt.Errorf("start nft %s: %w", strings.Join(args, " "), err)
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, needle+" ") || strings.HasSuffix(line, needle) {
			notify()
		}
	}
	if err := cmd.Wait(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("nft %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// NFTCounters returns a CounterReader for the inet table in namespace ns ("" for the
// process's own).
func NFTCounters(ns, table string) CounterReader {
	return func(ctx context.Context) ([]RuleCounter, error) {
		var out []byte
		run := func() error {
			var err error
			out, err = exec.CommandContext(ctx, "nft", "--json", "--terse", "list", "table", "inet", table).Output()
			return err
		}
		var err error
		if ns == "" {
			err = run()
		} else {
			err = netns.Do(ns, run)
		}
		if err != nil {
			return nil, fmt.Errorf("list counters of nftables table inet %s: %w", table, err)
		}
		return parseCounters(out)
	}
}

// parseCounters extracts the rules' comments and counters from `nft --json --terse list
// table` (terse: without set elements, which can be many).
func parseCounters(data []byte) ([]RuleCounter, error) {
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse nft json: %w", err)
	}
	var out []RuleCounter
	for _, obj := range doc.Nftables {
		raw, ok := obj["rule"]
		if !ok {
			continue
		}
		var rule struct {
			Comment string                       `json:"comment"`
			Expr    []map[string]json.RawMessage `json:"expr"`
		}
		if err := json.Unmarshal(raw, &rule); err != nil {
			return nil, fmt.Errorf("parse nft json rule: %w", err)
		}
		if rule.Comment == "" {
			continue
		}
		for _, e := range rule.Expr {
			c, ok := e["counter"]
			if !ok {
				continue
			}
			var v struct{ Packets, Bytes uint64 }
			if err := json.Unmarshal(c, &v); err != nil {
				continue // a named counter reference, not an inline counter
			}
			out = append(out, RuleCounter{Comment: trimQuotes(rule.Comment), Packets: v.Packets, Bytes: v.Bytes})
		}
	}
	return out, nil
}
