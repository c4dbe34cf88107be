package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// syncStatuses makes the EndpointStatus objects of this node match its local
// WorkloadEndpoints, whose policy has just been programmed: one per endpoint (same
// namespace and name) with its UID and policyProgrammed, and none for endpoints that went
// away. Statuses of other nodes are never touched.
func (p *policyLoop) syncStatuses(ctx context.Context) error {
	if !p.loadedStat {
		if err := p.loadStatuses(ctx); err != nil {
			return err
		}
	}
	var errs []error
	for _, k := range sortedKeys(p.localWEPs) {
		uid := p.localWEPs[k]
		sk := objKey{kind: p.status, namespace: k.namespace, name: k.name}
		if got, ok := p.statuses[sk]; ok && got == uid {
			continue
		}
		if err := p.writeStatus(ctx, sk, uid); err != nil {
			errs = append(errs, err)
			continue
		}
		p.statuses[sk] = uid
	}
	for _, sk := range sortedKeys(p.statuses) {
		wk := objKey{kind: p.wep, namespace: sk.namespace, name: sk.name}
		if _, ok := p.localWEPs[wk]; ok {
			continue
		}
		if err := p.deleteStatus(ctx, sk); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(p.statuses, sk)
	}
	return errors.Join(errs...)
}

// loadStatuses reads the statuses this node wrote before (e.g. before a restart), so they
// are neither rewritten needlessly nor left behind.
func (p *policyLoop) loadStatuses(ctx context.Context) error {
	res, err := p.st.List(ctx, p.status, store.ListOptions{})
	if err != nil {
		return fmt.Errorf("list endpoint statuses: %w", err)
	}
	p.statuses = map[objKey]string{}
	for _, obj := range res.Items {
		s, ok := obj.(*model.EndpointStatus)
		if !ok || s.Status.Node != p.cfg.NodeName {
			continue
		}
		uid := s.Status.EndpointUID
		if !s.Status.PolicyProgrammed {
			uid = "" // rewrite it
		}
		p.statuses[objKey{kind: p.status, namespace: s.Namespace, name: s.Name}] = uid
	}
	p.loadedStat = true
	return nil
}

// deleteStatus deletes a status if it is still this node's: an endpoint that moved to
// another node may already have that node's status under the same name.
func (p *policyLoop) deleteStatus(ctx context.Context, k objKey) error {
	obj, err := p.st.Get(ctx, p.status, k.namespace, k.name)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read endpoint status %s/%s: %w", k.namespace, k.name, err)
	}
	if s, ok := obj.(*model.EndpointStatus); !ok || s.Status.Node != p.cfg.NodeName {
		return nil
	}
	_, err = p.st.Delete(ctx, p.status, k.namespace, k.name, store.DeleteOptions{ResourceVersion: obj.GetResourceVersion()})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("delete endpoint status %s/%s: %w", k.namespace, k.name, err)
	}
	return nil
}

func (p *policyLoop) writeStatus(ctx context.Context, k objKey, uid string) error {
	obj, ok := p.status.New().(*model.EndpointStatus)
	if !ok {
		return fmt.Errorf("write endpoint status %s/%s: kind EndpointStatus makes %T", k.namespace, k.name, p.status.New())
	}
	obj.Namespace, obj.Name = k.namespace, k.name
	obj.Status = model.EndpointStatusStatus{Node: p.cfg.NodeName, EndpointUID: uid, PolicyProgrammed: true}
	_, err := p.st.Create(ctx, obj)
	if errors.Is(err, store.ErrAlreadyExists) {
		_, err = p.st.Update(ctx, obj) // empty resourceVersion: unconditional
	}
	if err != nil {
		return fmt.Errorf("write endpoint status %s/%s: %w", k.namespace, k.name, err)
	}
	return nil
}

func wepKind(kinds []*model.Kind) *model.Kind {
	for _, k := range kinds {
		if k.Group == model.GroupCalico && k.Kind == "WorkloadEndpoint" {
			return k
		}
	}
	return nil
}

func sortedKeys[V any](m map[objKey]V) []objKey {
	return slices.SortedFunc(maps.Keys(m), func(x, y objKey) int {
		if x.namespace != y.namespace {
			if x.namespace < y.namespace {
				return -1
			}
			return 1
		}
		if x.name < y.name {
			return -1
		}
		if x.name > y.name {
			return 1
		}
		return 0
	})
}
