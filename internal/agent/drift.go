package agent

import (
	"context"
	"time"

	"github.com/trellisnet/trellis/internal/runner"
)

// driftDebounce is how long the monitor collects table events before asking for a check,
// so that a burst (e.g. the agent's own transaction) costs one check.
const driftDebounce = 500 * time.Millisecond

// ownEventGrace is how long after its own transaction the agent takes table events for
// the echo of that transaction. A foreign change inside that window is left to the
// periodic resync; outside it, a check runs within a second.
const ownEventGrace = 250 * time.Millisecond

// monitorLoop runs the dataplane monitor, restarting it after failures, and turns its
// notifications into drift checks for the runner.
func (p *policyLoop) monitorLoop(ctx context.Context) {
	events := make(chan struct{}, 1)
	notify := func() {
		if p.applying.Load() || time.Now().UnixNano() < p.ownUntil.Load() {
			return // the echo of the agent's own transaction
		}
		select {
		case events <- struct{}{}:
		default:
		}
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-events:
			}
			if !runner.Sleep(ctx, driftDebounce) {
				return
			}
			select { // events during the debounce are covered by this check
			case <-events:
			default:
			}
			p.checkDrift.Store(true)
			p.runner.Trigger()
		}
	}()
	for ctx.Err() == nil {
		if err := p.dp.Monitor(ctx, notify); err != nil && ctx.Err() == nil {
			p.log.Warn("nft monitor ended; restarting", "err", err)
		}
		if !runner.Sleep(ctx, p.cfg.RetryPeriod) {
			return
		}
	}
}

// detectDrift compares the kernel's table with what the Applier last applied: the names
// of chains, sets and maps and the number of rules per chain. Any difference (a deleted
// table, chain or set, a flushed chain, a deleted or added rule) makes the next sync a full
// one. Element-level drift is left to the periodic resync. It runs when the monitor saw a
// foreign change, so its cost (listing the table without elements) is rare.
func (p *policyLoop) detectDrift(ctx context.Context) {
	applied := p.applier.Applied()
	if time.Since(p.lastCheck) < driftDebounce {
		p.checkDrift.Store(true) // too soon after the last check: keep it for later
		return
	}
	p.lastCheck = time.Now()
	drift := func(why string) {
		p.log.Warn("nftables table drifted; full sync", "table", p.cfg.TableName, "drift", why)
		p.needFull = true
	}
	all, err := p.dp.NFT.ListAll(ctx)
	if err != nil {
		drift("list table: " + err.Error())
		return
	}
	have := map[string]bool{}
	for _, typ := range []string{"chain", "set", "map"} {
		for _, name := range all[typ] {
			have[typ+" "+name] = true
		}
	}
	want := 0
	for name := range applied.Chains {
		want++
		if !have["chain "+name] {
			drift("chain " + name + " missing")
			return
		}
	}
	for name, s := range applied.Sets {
		want++
		typ := "set"
		if s.Map {
			typ = "map"
		}
		if !have[typ+" "+name] {
			drift(typ + " " + name + " missing")
			return
		}
	}
	if len(have) != want {
		drift("unexpected objects")
		return
	}
	rules, err := p.dp.NFT.ListRules(ctx, "")
	if err != nil {
		drift("list rules: " + err.Error())
		return
	}
	count := map[string]int{}
	for _, r := range rules {
		count[r.Chain]++
	}
	for name, c := range applied.Chains {
		if count[name] != len(c.Rules) {
			drift("chain " + name + " rules changed")
			return
		}
	}
}
