package cni

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	plugipam "github.com/containernetworking/plugins/pkg/ipam"

	"github.com/trellisnet/trellis/internal/ipam"
	"github.com/trellisnet/trellis/internal/ipam/ipamstore"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// inProcessIPAM says whether the ipam section names our own allocator, which the plugin
// then runs in-process instead of executing it.
func (c *call) inProcessIPAM() bool {
	return c.conf.IPAM.Type == "" || c.conf.IPAM.Type == IPAMPluginName
}

// allocate runs IPAM for the attachment and returns the addresses (in is only read for
// the in-process allocator).
func (c *call) allocate(w workload, in addInputs) ([]netip.Prefix, error) {
	if c.inProcessIPAM() {
		return assign(c.ctx, c.st, c.conf, c.node, w, in)
	}
	r, err := plugipam.ExecAdd(c.conf.IPAM.Type, c.args.StdinData)
	if err != nil {
		return nil, fmt.Errorf("ipam plugin %s: %w", c.conf.IPAM.Type, err)
	}
	res, err := current.NewResultFromResult(r)
	if err != nil {
		return nil, fmt.Errorf("ipam plugin %s result: %w", c.conf.IPAM.Type, err)
	}
	return resultPrefixes(res), nil
}

// free releases the attachment's addresses.
func (c *call) free(containerID string) error {
	if c.inProcessIPAM() {
		return release(c.ctx, c.st, c.conf, containerID)
	}
	return plugipam.ExecDel(c.conf.IPAM.Type, c.args.StdinData)
}

func (p *plugin) add(c *call) (err error) {
	w, err := parseArgs(c.args.ContainerID, c.args.IfName, c.args.Args)
	if err != nil {
		return err
	}
	hostIf := HostVethName(w.Namespace, w.Pod, w.ContainerID)
	pl := podLink{HostIf: hostIf, ContIf: w.IfName, NetNS: c.args.Netns, MTU: c.conf.MTU}
	// The veth pair does not depend on the addresses: create it while the datastore is
	// read and IPAM runs. Everything below waits for it before touching the link.
	waitLink := c.startPodLink(pl)
	success, ipamRan := false, false
	var wepWritten *model.WorkloadEndpoint
	defer func() {
		waitLink()
		if success {
			return
		}
		// Undo in reverse order; keep the first error as the result.
		var undo []error
		if wepWritten != nil {
			undo = append(undo, deleteEndpoint(c.ctx, c.st, wepWritten.Namespace, wepWritten.Name, w.ContainerID))
		}
		undo = append(undo, teardownPodLink(w.IfName, c.args.Netns))
		if ipamRan {
			undo = append(undo, c.free(w.ContainerID))
		}
		if uerr := errors.Join(undo...); uerr != nil {
			c.log.Error("undo failed ADD", "error", uerr)
		}
	}()
	var in addInputs
	done := c.tm.phase("gather")
	if c.inProcessIPAM() {
		in, err = gather(c.ctx, c.st, c.conf, c.node, w)
	} else {
		in.info, err = lookupPod(c.ctx, c.st, w)
	}
	done()
	if err != nil {
		return err
	}
	done = c.tm.phase("ipam")
	ipamRan = true
	addrs, err := c.allocate(w, in)
	done()
	if err != nil {
		return err
	}
	c.log.Info("addresses assigned", "addrs", addrs)
	link := waitLink()
	if link.err != nil {
		return link.err
	}
	pl.Addrs = addrs
	wep, err := c.wirePodLink(pl, buildEndpoint(c.node, w, in.info, hostIf, link.mac, addrs))
	wepWritten = wep
	if err != nil {
		return err
	}
	if c.conf.PolicyWait {
		done = c.tm.phase("policyWait")
		var err error
		if c.derived {
			err = waitForAgent(c.ctx, c.conf.agentSocket(c.node), wep, c.conf.waitTimeout)
		} else {
			err = waitForPolicy(c.ctx, c.st, wep, c.conf.waitTimeout)
		}
		done()
		if err != nil {
			return err
		}
	}
	res := podResult(hostIf, w.IfName, link.mac, c.args.Netns, addrs)
	success = true
	return types.PrintResult(res, c.conf.CNIVersion)
}

// linkResult is what createPodLink returned.
type linkResult struct {
	mac string
	err error
}

// startPodLink creates the veth pair in the background (createPodLink, after finding the
// MTU if the NetConf gives none) and returns the function that waits for the result; it
// may be called any number of times.
func (c *call) startPodLink(l podLink) func() linkResult {
	created := make(chan linkResult, 1)
	go func() {
		done := c.tm.phase("linkCreate")
		defer done()
		if l.MTU == 0 {
			l.MTU = autoMTU()
		}
		mac, err := createPodLink(l)
		created <- linkResult{mac: mac, err: err}
	}()
	return sync.OnceValue(func() linkResult { return <-created })
}

// wirePodLink gives the pair its addresses and routes while it writes the endpoint. It
// returns the endpoint if it was written (the caller undoes it on failure), and the first
// error.
func (c *call) wirePodLink(l podLink, wep *model.WorkloadEndpoint) (*model.WorkloadEndpoint, error) {
	var written *model.WorkloadEndpoint
	var wepErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		done := c.tm.phase("endpoint")
		written, wepErr = writeEndpoint(c.ctx, c.st, wep)
		done()
	})
	done := c.tm.phase("linkConfigure")
	err := configurePodLink(l)
	done()
	wg.Wait()
	if err == nil {
		err = wepErr
	}
	return written, err
}

// podResult is the result of trellis-cni ADD.
func podResult(hostIf, contIf, mac, nsPath string, addrs []netip.Prefix) *current.Result {
	res := &current.Result{CNIVersion: current.ImplementedSpecVersion,
		Interfaces: []*current.Interface{{Name: hostIf, Mac: hostMAC.String()}, {Name: contIf, Mac: mac, Sandbox: nsPath}}}
	one := 1
	for _, a := range addrs {
		res.IPs = append(res.IPs, &current.IPConfig{Interface: &one, Address: *ipNet(a)})
	}
	if has4(addrs) {
		res.Routes = append(res.Routes, &types.Route{Dst: net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}, GW: Gateway4.AsSlice()})
	}
	if has6(addrs) {
		res.Routes = append(res.Routes, &types.Route{Dst: net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}, GW: Gateway6.AsSlice()})
	}
	return res
}

func (p *plugin) del(c *call) error {
	w, err := parseArgs(c.args.ContainerID, c.args.IfName, c.args.Args)
	if err != nil {
		return err
	}
	// The kernel takes tens of milliseconds to delete a veth; the datastore work does not
	// depend on it and runs meanwhile. Each part is idempotent, so a DEL that fails in
	// one part is simply repeated by the runtime.
	var linkErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		done := c.tm.phase("linkDelete")
		linkErr = teardownPodLink(w.IfName, c.args.Netns)
		done()
	})
	done := c.tm.phase("ipam")
	err = c.free(w.ContainerID)
	done()
	if err == nil {
		done = c.tm.phase("endpoint")
		err = deleteEndpoint(c.ctx, c.st, w.Namespace, EndpointName(c.node, w), w.ContainerID)
		done()
	}
	wg.Wait()
	if linkErr != nil {
		return linkErr
	}
	return err
}

func (p *plugin) check(c *call) error {
	w, err := parseArgs(c.args.ContainerID, c.args.IfName, c.args.Args)
	if err != nil {
		return err
	}
	if c.conf.PrevResult == nil {
		return types.NewError(types.ErrInvalidNetworkConfig, "check: prevResult is required", "")
	}
	prev, err := current.NewResultFromResult(c.conf.PrevResult)
	if err != nil {
		return fmt.Errorf("check: prevResult: %w", err)
	}
	addrs := resultPrefixes(prev)
	if c.inProcessIPAM() {
		if err := checkOwned(c.ctx, c.st, c.conf, w.ContainerID, addrs); err != nil {
			return err
		}
	} else if err := plugipam.ExecCheck(c.conf.IPAM.Type, c.args.StdinData); err != nil {
		return err
	}
	hostIf := HostVethName(w.Namespace, w.Pod, w.ContainerID)
	if err := checkPodLink(podLink{HostIf: hostIf, ContIf: w.IfName, NetNS: c.args.Netns, Addrs: addrs}); err != nil {
		return err
	}
	k := model.KindWorkloadEndpoint
	obj, err := c.st.Get(c.ctx, k, w.Namespace, EndpointName(c.node, w))
	if err != nil {
		return fmt.Errorf("check: workload endpoint: %w", err)
	}
	if wep, ok := obj.(*model.WorkloadEndpoint); !ok || wep.Spec.ContainerID != w.ContainerID {
		return fmt.Errorf("check: workload endpoint %s belongs to another container", obj.GetName())
	}
	return nil
}

// checkOwned verifies that the attachment's handle owns exactly addrs.
func checkOwned(ctx context.Context, st store.Store, conf *NetConf, containerID string, addrs []netip.Prefix) error {
	owned, err := ipam.New(ipamstore.New(st), ipamstore.Match).AddrsByHandle(ctx, handleID(conf.Name, containerID))
	if err != nil {
		return err
	}
	got := hostPrefixes(owned)
	want := slices.Clone(addrs)
	cmpP := func(a, b netip.Prefix) int { return a.Addr().Compare(b.Addr()) }
	slices.SortFunc(got, cmpP)
	slices.SortFunc(want, cmpP)
	if !slices.Equal(got, want) {
		return fmt.Errorf("check: ipam handle %s owns %v, prevResult has %v", handleID(conf.Name, containerID), got, want)
	}
	return nil
}

// status: 50 when the datastore is unreachable, 51 when the node agent has not reported
// ready (existing pods keep their connectivity but policy changes are not programmed).
func (p *plugin) status(c *call) error {
	k := model.KindIPAMConfiguration
	ctx, cancel := context.WithTimeout(c.ctx, c.conf.storeTimeout)
	defer cancel()
	if _, err := c.st.Get(ctx, k, "", "default"); err != nil && !errors.Is(err, store.ErrNotFound) {
		return types.NewError(types.ErrPluginNotAvailable, "datastore unavailable", err.Error())
	}
	sock := c.conf.agentSocket(c.node)
	if p.ipamOnly || sock == "-" {
		return nil
	}
	if err := agentReady(c.ctx, sock); err != nil {
		return types.NewError(types.ErrLimitedConnectivity, "node agent not ready", err.Error())
	}
	return nil
}

// gc releases every attachment of this network on this node that the runtime does not
// list as valid: its addresses and its WorkloadEndpoint.
func (p *plugin) gc(c *call) error {
	valid := map[string]bool{}
	for _, a := range c.conf.ValidAttachments {
		valid[a.ContainerID] = true
	}
	a := ipam.New(ipamstore.New(c.st), ipamstore.Match)
	snap, err := a.Snapshot(c.ctx)
	if err != nil {
		return err
	}
	stale := map[string]bool{}
	for _, b := range snap.Blocks {
		for _, al := range b.Allocated() {
			cid, ok := containerOfHandle(c.conf.Name, al.Handle)
			if ok && !valid[cid] && al.Attrs[ipam.AttrNode] == c.node {
				stale[al.Handle] = true
			}
		}
	}
	var errs []error
	for _, h := range slices.Sorted(maps.Keys(stale)) {
		if _, err := a.ReleaseByHandle(c.ctx, h); err != nil {
			errs = append(errs, err)
		}
		c.log.Info("gc released handle", "handle", h)
	}
	if p.ipamOnly {
		return errors.Join(errs...)
	}
	k := model.KindWorkloadEndpoint
	res, err := c.st.List(c.ctx, k, store.ListOptions{})
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("gc: list workload endpoints: %w", err))...)
	}
	for _, obj := range res.Items {
		wep, ok := obj.(*model.WorkloadEndpoint)
		if !ok || wep.Spec.Node != c.node || valid[wep.Spec.ContainerID] || wep.Spec.ContainerID == "" {
			continue
		}
		if err := deleteEndpoint(c.ctx, c.st, wep.Namespace, wep.Name, wep.Spec.ContainerID); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// The IPAM plugin's commands.

func (p *plugin) ipamAdd(c *call) error {
	w, err := parseArgs(c.args.ContainerID, c.args.IfName, c.args.Args)
	if err != nil {
		return err
	}
	in, err := gather(c.ctx, c.st, c.conf, c.node, w)
	if err != nil {
		return err
	}
	addrs, err := assign(c.ctx, c.st, c.conf, c.node, w, in)
	if err != nil {
		return err
	}
	return types.PrintResult(ipamResult(addrs), c.conf.CNIVersion)
}

func (p *plugin) ipamDel(c *call) error {
	return release(c.ctx, c.st, c.conf, c.args.ContainerID)
}

func (p *plugin) ipamCheck(c *call) error {
	if c.conf.PrevResult == nil {
		return types.NewError(types.ErrInvalidNetworkConfig, "check: prevResult is required", "")
	}
	prev, err := current.NewResultFromResult(c.conf.PrevResult)
	if err != nil {
		return fmt.Errorf("check: prevResult: %w", err)
	}
	return checkOwned(c.ctx, c.st, c.conf, c.args.ContainerID, resultPrefixes(prev))
}

// writeEndpoint creates the endpoint or replaces the existing one.
func writeEndpoint(ctx context.Context, st store.Store, wep *model.WorkloadEndpoint) (*model.WorkloadEndpoint, error) {
	obj, err := st.Create(ctx, wep)
	if errors.Is(err, store.ErrAlreadyExists) {
		obj, err = st.Update(ctx, wep)
	}
	if err != nil {
		return nil, fmt.Errorf("write workload endpoint %s/%s: %w", wep.Namespace, wep.Name, err)
	}
	out, ok := obj.(*model.WorkloadEndpoint)
	if !ok {
		return nil, fmt.Errorf("write workload endpoint %s/%s: unexpected type %T", wep.Namespace, wep.Name, obj)
	}
	return out, nil
}

// deleteConflictRetries bounds deleteEndpoint's reads after a conflict: with endpoints
// derived from pods (the kubernetes datastore) every status update of the pod is one.
const deleteConflictRetries = 5

// deleteEndpoint deletes the endpoint if it belongs to containerID; absent is fine. A
// conflict (the endpoint changed between the read and the delete) reads it again.
func deleteEndpoint(ctx context.Context, st store.Store, namespace, name, containerID string) error {
	k := model.KindWorkloadEndpoint
	for try := 0; ; try++ {
		obj, err := st.Get(ctx, k, namespace, name)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("delete workload endpoint %s/%s: %w", namespace, name, err)
		}
		if wep, ok := obj.(*model.WorkloadEndpoint); ok && wep.Spec.ContainerID != containerID {
			return nil // a newer container of the same pod owns it
		}
		_, err = st.Delete(ctx, k, namespace, name, store.DeleteOptions{ResourceVersion: obj.GetResourceVersion()})
		switch {
		case err == nil, errors.Is(err, store.ErrNotFound):
			return nil
		case errors.Is(err, store.ErrConflict) && try < deleteConflictRetries:
			continue
		}
		return fmt.Errorf("delete workload endpoint %s/%s: %w", namespace, name, err)
	}
}

// waitForPolicy waits until the node agent reports the endpoint's policy programmed for
// this very endpoint (its EndpointStatus has the same UID), or the timeout passes. It
// watches the namespace's EndpointStatuses (started before the first read, so no write is
// missed) and polls only as a fallback when the watch cannot start or ends.
func waitForPolicy(ctx context.Context, st store.Store, wep *model.WorkloadEndpoint, timeout time.Duration) error {
	k := model.KindEndpointStatus
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	programmed := func(obj model.Object) bool {
		s, ok := obj.(*model.EndpointStatus)
		return ok && s.Name == wep.Name && s.Status.PolicyProgrammed && s.Status.EndpointUID == string(wep.UID)
	}
	var events <-chan store.Event
	if w, err := st.Watch(ctx, k, store.WatchOptions{Namespace: wep.Namespace}); err == nil {
		defer w.Stop()
		events = w.Events()
	}
	tick := time.NewTicker(policyPoll)
	defer tick.Stop()
	check := true
	for {
		if check {
			obj, err := st.Get(ctx, k, wep.Namespace, wep.Name)
			switch {
			case err == nil && programmed(obj):
				return nil
			case err != nil && !errors.Is(err, store.ErrNotFound) && ctx.Err() == nil:
				return fmt.Errorf("policy wait for %s/%s: %w", wep.Namespace, wep.Name, err)
			}
			check = false
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("policy wait for %s/%s: the node agent did not report its policy programmed within %s", wep.Namespace, wep.Name, timeout)
		case ev, ok := <-events:
			switch {
			case !ok || ev.Type == store.EventResync:
				events, check = nil, true // the watch ended: poll from here on
			case ev.Type != store.EventDeleted && programmed(ev.Object):
				return nil
			}
		case <-tick.C:
			check = events == nil
		}
	}
}
