package controller

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/trellisnet/trellis/internal/agent/agentapi"
	"github.com/trellisnet/trellis/internal/ipam"
	"github.com/trellisnet/trellis/internal/ipam/ipamstore"
	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// DecommissionNode takes a node that has left the cluster out of the store: its Node
// objects (Calico's and Kubernetes'), its VXLAN tunnel address (IPAM handle
// agentapi.TunnelHandle) and its block affinities (an empty block is deleted, a block
// with addresses left is kept without affinity), so that the other nodes withdraw its
// routes. Its pods and workload endpoints are the caller's to remove first. What is
// already gone is no error, so it can be called again after a failure.
func DecommissionNode(ctx context.Context, st store.Store, node string) error {
	if err := deleteNodeObjects(ctx, st, node); err != nil {
		return err
	}
	return releaseNodeIPAM(ctx, st, node)
}

func deleteNodeObjects(ctx context.Context, st store.Store, node string) error {
	for _, k := range []*model.Kind{model.KindNode, model.KindK8sNode} {
		if _, err := st.Delete(ctx, k, "", node, store.DeleteOptions{}); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("remove node %s: delete %s: %w", node, k.Resource(), err)
		}
	}
	return nil
}

// releaseNodeIPAM releases the node's VXLAN tunnel address and every block affinity it
// holds.
func releaseNodeIPAM(ctx context.Context, st store.Store, node string) error {
	is := ipamstore.New(st)
	affs, err := is.Affinities().List(ctx)
	if err != nil {
		return fmt.Errorf("remove node %s: list block affinities: %w", node, err)
	}
	var blocks []netip.Prefix
	for _, af := range affs {
		if af.Node == node {
			blocks = append(blocks, af.CIDR)
		}
	}
	return releaseNode(ctx, ipam.New(is, ipamstore.Match), node, blocks)
}

// releaseNode releases the node's VXLAN tunnel address and its affinity to each of
// blocks (ipam's ReleaseAffinity: an empty block is deleted, one with addresses left is
// kept without affinity; an affinity or block already gone is no error).
func releaseNode(ctx context.Context, a *ipam.Allocator, node string, blocks []netip.Prefix) error {
	if _, err := a.ReleaseByHandle(ctx, agentapi.TunnelHandle(node)); err != nil && !errors.Is(err, ipam.ErrNotFound) {
		return fmt.Errorf("remove node %s: %w", node, err)
	}
	for _, cidr := range blocks {
		if err := a.ReleaseAffinity(ctx, node, cidr); err != nil {
			return fmt.Errorf("remove node %s: %w", node, err)
		}
	}
	return nil
}
