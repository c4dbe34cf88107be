package cni

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"

	current "github.com/containernetworking/cni/pkg/types/100"
	corev1 "k8s.io/api/core/v1"

	"github.com/trellisnet/trellis/internal/ipam"
	"github.com/trellisnet/trellis/internal/ipam/ipamstore"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// lookupPod reads the pod, its namespace and service account (the namespace concurrently
// with the other two). A named pod that is not in the store is an error; a missing
// namespace or service account is not.
func lookupPod(ctx context.Context, st store.Store, w workload) (podInfo, error) {
	var info podInfo
	if w.Pod == "" {
		return info, nil
	}
	get := func(k *model.Kind, ns, name string) (model.Object, error) {
		obj, err := st.Get(ctx, k, ns, name)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		return obj, err
	}
	var ns *corev1.Namespace
	var nsErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		obj, err := get(model.KindNamespace, "", w.Namespace)
		ns, _ = obj.(*corev1.Namespace)
		if err != nil {
			nsErr = fmt.Errorf("look up namespace %s: %w", w.Namespace, err)
		}
	})
	defer wg.Wait() // on the early returns below
	obj, err := st.Get(ctx, podViewKind, w.Namespace, w.Pod)
	if err != nil {
		return info, fmt.Errorf("look up pod %s/%s: %w", w.Namespace, w.Pod, err)
	}
	pod, _ := obj.(*podView)
	sa := "default"
	if pod != nil && pod.Spec.ServiceAccountName != "" {
		sa = pod.Spec.ServiceAccountName
	}
	obj, err = get(model.KindServiceAccount, w.Namespace, sa)
	if err != nil {
		return info, fmt.Errorf("look up service account %s/%s: %w", w.Namespace, sa, err)
	}
	wg.Wait()
	info.Pod, info.Namespace = pod, ns
	info.SA, _ = obj.(*corev1.ServiceAccount)
	return info, nsErr
}

// nodeLabels reads the labels of the Calico Node, else the Kubernetes Node, named node.
func nodeLabels(ctx context.Context, st store.Store, node string) (map[string]string, error) {
	for _, k := range []*model.Kind{model.KindNode, model.KindK8sNode} {
		obj, err := st.Get(ctx, k, "", node)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("look up node %s: %w", node, err)
		}
		return obj.GetLabels(), nil
	}
	return map[string]string{}, nil
}

// jsonList decodes an annotation holding a JSON list of strings.
func jsonList(annotations map[string]string, key string) ([]string, bool, error) {
	v, ok := annotations[key]
	if !ok {
		return nil, false, nil
	}
	var out []string
	if err := json.Unmarshal([]byte(v), &out); err != nil {
		return nil, true, fmt.Errorf("annotation %s: %q is not a JSON list of strings: %w", key, v, err)
	}
	return out, true, nil
}

// poolsFor picks the requested pools: pod annotation, else namespace annotation, else conf.
func poolsFor(info podInfo, key string, conf []string) ([]string, error) {
	if info.Pod != nil {
		if l, ok, err := jsonList(info.Pod.Annotations, key); ok || err != nil {
			return l, err
		}
	}
	if info.Namespace != nil {
		if l, ok, err := jsonList(info.Namespace.Annotations, key); ok || err != nil {
			return l, err
		}
	}
	return conf, nil
}

// addInputs is everything an ADD reads before allocating.
type addInputs struct {
	info   podInfo
	have   []ipam.Allocation // what the handle already owns
	in     ipamstore.Inputs
	labels map[string]string // node labels
}

// gather reads the ADD inputs concurrently: they are independent datastore reads, and
// their latency adds up to most of an ADD.
func gather(ctx context.Context, st store.Store, conf *NetConf, node string, w workload) (addInputs, error) {
	var in addInputs
	var wg sync.WaitGroup
	errs := make([]error, 4)
	wg.Go(func() { in.info, errs[0] = lookupPod(ctx, st, w) })
	wg.Go(func() {
		in.have, errs[1] = ipam.New(ipamstore.New(st), ipamstore.Match).AddrsByHandle(ctx, handleID(conf.Name, w.ContainerID))
	})
	wg.Go(func() { in.in, errs[2] = ipamstore.Load(ctx, st) })
	wg.Go(func() { in.labels, errs[3] = nodeLabels(ctx, st, node) })
	wg.Wait()
	return in, errors.Join(errs...)
}

// assign allocates the workload's addresses with the in-process allocator, or returns the
// ones its handle already owns (ADD is idempotent). The result is /32 and /128 prefixes.
func assign(ctx context.Context, st store.Store, conf *NetConf, node string, w workload, in addInputs) ([]netip.Prefix, error) {
	if len(in.have) > 0 {
		return hostPrefixes(in.have), nil
	}
	a := ipam.New(ipamstore.New(st), ipamstore.Match)
	handle := handleID(conf.Name, w.ContainerID)
	info := in.info
	attrs := map[string]string{ipam.AttrNode: node, ipam.AttrContainerID: w.ContainerID}
	if w.Pod != "" {
		attrs[ipam.AttrNamespace], attrs[ipam.AttrPod] = w.Namespace, w.Pod
	}
	if info.Pod != nil {
		fixed, ok, err := jsonList(info.Pod.Annotations, AnnotationIPAddrs)
		if err != nil {
			return nil, err
		}
		if ok {
			return assignFixed(ctx, a, in.in, fixed, node, handle, attrs)
		}
	}
	v4, err := poolsFor(info, AnnotationIPv4Pools, conf.IPAM.IPv4Pools)
	if err != nil {
		return nil, err
	}
	v6, err := poolsFor(info, AnnotationIPv6Pools, conf.IPAM.IPv6Pools)
	if err != nil {
		return nil, err
	}
	var nsLabels map[string]string
	if info.Namespace != nil {
		nsLabels = info.Namespace.Labels
	}
	args := ipam.AssignArgs{Node: node, NodeLabels: in.labels, NamespaceLabels: nsLabels, Handle: handle, Attrs: attrs,
		Pools: in.in.Pools, IPv4Pools: v4, IPv6Pools: v6, Reserved: in.in.Reserved, Config: in.in.Config}
	if boolOr(conf.IPAM.AssignIPv4, true) {
		args.Num4 = 1
	}
	if boolOr(conf.IPAM.AssignIPv6, false) {
		args.Num6 = 1
	}
	if args.Num4+args.Num6 == 0 {
		return nil, errors.New("ipam: neither assign_ipv4 nor assign_ipv6 is true")
	}
	res, err := a.AutoAssign(ctx, args)
	if err != nil {
		return nil, err
	}
	return hostPrefixes(append(res.IPv4, res.IPv6...)), nil
}

func assignFixed(ctx context.Context, a *ipam.Allocator, in ipamstore.Inputs, fixed []string, node, handle string, attrs map[string]string) ([]netip.Prefix, error) {
	var got []ipam.Allocation
	for _, s := range fixed {
		addr, err := netip.ParseAddr(strings.TrimSpace(s))
		if err == nil {
			var al ipam.Allocation
			al, err = a.AssignIP(ctx, ipam.AssignIPArgs{Addr: addr, Node: node, Handle: handle, Attrs: attrs, Pools: in.Pools})
			got = append(got, al)
		}
		if err != nil {
			if _, rbErr := a.ReleaseByHandle(ctx, handle); rbErr != nil {
				err = errors.Join(err, rbErr)
			}
			return nil, fmt.Errorf("annotation %s: address %q: %w", AnnotationIPAddrs, s, err)
		}
	}
	return hostPrefixes(got), nil
}

func hostPrefixes(allocs []ipam.Allocation) []netip.Prefix {
	out := make([]netip.Prefix, len(allocs))
	for i, al := range allocs {
		out[i] = netip.PrefixFrom(al.Addr, al.Addr.BitLen())
	}
	return out
}

// release frees the workload's addresses; an unknown handle is fine.
func release(ctx context.Context, st store.Store, conf *NetConf, containerID string) error {
	_, err := ipam.New(ipamstore.New(st), ipamstore.Match).ReleaseByHandle(ctx, handleID(conf.Name, containerID))
	return err
}

// ipamResult is the IPAM plugin's result: addresses only.
func ipamResult(addrs []netip.Prefix) *current.Result {
	res := &current.Result{CNIVersion: current.ImplementedSpecVersion}
	for _, a := range addrs {
		res.IPs = append(res.IPs, &current.IPConfig{Address: *ipNet(a)})
	}
	return res
}

// resultPrefixes reads /32 and /128 addresses out of a result.
func resultPrefixes(res *current.Result) []netip.Prefix {
	var out []netip.Prefix
	for _, ip := range res.IPs {
		if a, ok := netip.AddrFromSlice(ip.Address.IP); ok {
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return out
}
