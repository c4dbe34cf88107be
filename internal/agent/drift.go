package agent

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/trellisnet/trellis/internal/runner"
)

// driftMinInterval is the least time between two full syncs caused by drift: a tool that
// keeps rewriting the table costs at most one full sync per interval.
const driftMinInterval = time.Second

// maxOwnRanges is how many of its own transactions the agent remembers; the monitor
// reports a generation within milliseconds of its commit.
const maxOwnRanges = 256

// genRange is the generations (from, to] committed while one of the agent's own
// transactions ran: normally exactly its own, more when another writer committed at the
// same time. touched counts the reported generations inside it.
type genRange struct {
	from, to uint32
	touched  int
}

func (r *genRange) has(g uint32) bool { return g-r.from-1 < r.to-r.from }

// ownGens tells the echo of the agent's own transactions from foreign changes. Each own
// transaction is bracketed by two reads of the kernel's generation counter; the monitor
// reports the generation of every transaction that touched the table; a reported
// generation is judged once no own transaction is in flight (so the bracket around it, if
// any, is known): inside a bracket of one generation it is the agent's own, anything else
// is foreign and handed to onForeign. While the generation cannot be read (onBroken is
// told once), nothing is judged: a full sync after every own write would be worse than
// leaving drift to the periodic resync. Safe for concurrent use.
type ownGens struct {
	gen       func() (uint32, error)
	onForeign func(gens []uint32)
	onBroken  func(err error)

	mu sync.Mutex
	// cleanAfter and cleanTo: every generation in (cleanAfter, cleanTo] was seen whole by
	// the monitor and did not touch the table (an empty run when equal).
	cleanAfter, cleanTo uint32
	broken              bool // the last bracket could not be read
	running             int
	ranges              []*genRange // the latest own transactions, oldest first
	pending             []uint32    // reported by the monitor, not yet judged
}

// report records a generation the monitor saw touch the table (0: unknown, foreign).
func (o *ownGens) report(g uint32) {
	o.mu.Lock()
	o.cleanAfter, o.cleanTo = g, g // a touched (or unknown) generation ends the clean run
	o.pending = append(o.pending, g)
	foreign := o.settle()
	o.mu.Unlock()
	if len(foreign) > 0 {
		o.onForeign(foreign)
	}
}

// run runs one own transaction between two reads of the generation.
func (o *ownGens) run(fn func() error) error {
	o.mu.Lock()
	o.running++
	o.mu.Unlock()
	g0, err0 := o.gen()
	err := fn()
	g1, err1 := o.gen()
	o.mu.Lock()
	o.running--
	if gerr := errors.Join(err0, err1); gerr != nil && !o.broken && o.onBroken != nil {
		o.onBroken(gerr)
	}
	o.broken = err0 != nil || err1 != nil
	if err == nil && !o.broken && g1 != g0 {
		o.ranges = append(o.ranges, &genRange{from: g0, to: g1})
		if len(o.ranges) > maxOwnRanges {
			o.ranges = o.ranges[len(o.ranges)-maxOwnRanges:]
		}
	}
	foreign := o.settle()
	o.mu.Unlock()
	if len(foreign) > 0 {
		o.onForeign(foreign)
	}
	return err
}

// settle judges the pending generations when no own transaction is in flight and returns
// the foreign ones. A bracket of several generations (another writer committed meanwhile)
// is the agent's own when only one of them touched the table. Called with mu held.
func (o *ownGens) settle() []uint32 {
	if o.running > 0 || len(o.pending) == 0 {
		return nil
	}
	if o.broken {
		o.pending = o.pending[:0]
		return nil
	}
	var foreign []uint32
	for _, g := range o.pending {
		own := false
		for _, r := range o.ranges {
			if g != 0 && r.has(g) {
				r.touched++
				own = r.to-r.from == 1 || r.touched == 1
			}
		}
		if !own {
			foreign = append(foreign, g)
		}
	}
	o.pending = o.pending[:0]
	return foreign
}

// foreignChange is ownGens.onForeign: a change of the table the agent did not make asks
// for a full sync (syncOnce rate-limits it).
func (p *policyLoop) foreignChange(gens []uint32) {
	p.log.Warn("nftables table changed behind the agent's back; full sync", "table", p.cfg.TableName, "generations", gens)
	p.drifted.Store(true)
	p.runner.Trigger()
}

// brokenGens is ownGens.onBroken.
func (p *policyLoop) brokenGens(err error) {
	p.log.Warn("read nftables generation failed; drift left to the periodic resync until it works", "err", err)
}

// monitorLoop runs the dataplane monitor, restarting it after failures; the monitor
// reports to ownGens, which calls foreignChange.
func (p *policyLoop) monitorLoop(ctx context.Context) {
	for ctx.Err() == nil {
		if err := p.dp.Monitor(ctx, MonitorReport{Changed: p.gens.report, Clean: p.gens.clean}); err != nil && ctx.Err() == nil {
			p.log.Warn("nftables monitor ended; restarting", "err", err)
		}
		if !runner.Sleep(ctx, p.cfg.RetryPeriod) {
			return
		}
	}
}

// takeDrift turns a detected drift into a full sync, at most one per driftMinInterval; a
// drift inside the interval is kept and the runner woken when it ends. Runner goroutine.
func (p *policyLoop) takeDrift() {
	if !p.drifted.Load() {
		return
	}
	if wait := driftMinInterval - time.Since(p.lastDrift); wait > 0 {
		if !p.driftWake {
			p.driftWake = true
			time.AfterFunc(wait, p.runner.Trigger)
		}
		return
	}
	p.drifted.Store(false)
	p.driftWake = false
	p.lastDrift = time.Now()
	p.needFull = true
	p.metrics.driftRepairs.Inc()
}

// clean records a generation the monitor saw whole that did not touch the table: it
// extends the clean run when it follows it directly.
func (o *ownGens) clean(g uint32) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cleanTo != 0 && g == o.cleanTo+1 {
		o.cleanTo = g
	}
}

// vouch is the nft.Voucher of the agent's Applier: the run of generations after the last
// one that touched the table in which no commit touched it.
func (o *ownGens) vouch() (after, upTo uint32, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.cleanAfter, o.cleanTo, !o.broken && o.cleanAfter != 0 && o.cleanTo != o.cleanAfter
}
