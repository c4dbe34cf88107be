package ctl

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// watchKind prints every change of kind after rev (the listing's revision) until ctx ends:
// a table row (no header), a name, or the object in the structured format. When the
// store's history is gone it lists again and goes on from there.
func (g getter) watchKind(ctx context.Context, kind *model.Kind, rev string) error {
	ns := namespaceFor(kind, g.f.namespace)
	if g.f.allNamespaces {
		ns = ""
	}
	for {
		w, err := g.st.Watch(ctx, kind, store.WatchOptions{Namespace: ns, Revision: rev})
		if err != nil {
			return err
		}
		err = g.printEvents(ctx, kind, w)
		w.Stop()
		if err != nil || ctx.Err() != nil {
			return err
		}
		res, err := g.st.List(ctx, kind, store.ListOptions{Namespace: ns, Labels: g.sel})
		if err != nil {
			return err
		}
		rev = res.Revision
	}
}

// printEvents prints a watch's events until it ends (the caller then lists again).
func (g getter) printEvents(ctx context.Context, kind *model.Kind, w store.Watch) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events():
			if !ok || ev.Type == store.EventResync {
				return nil
			}
			if !g.sel.Matches(labels.Set(ev.Object.GetLabels())) {
				continue
			}
			if err := g.printEvent(kind, ev); err != nil {
				return err
			}
		}
	}
}

func (g getter) printEvent(kind *model.Kind, ev store.Event) error {
	if g.out.structured() {
		if g.out.format == "yaml" {
			fmt.Fprintln(g.w, "---")
		}
		return writeStructured(g.w, g.out, ev.Object)
	}
	if g.out.format == "name" {
		key, _ := model.KeyOf(ev.Object)
		verb := map[store.EventType]string{store.EventAdded: "added", store.EventModified: "modified", store.EventDeleted: "deleted"}[ev.Type]
		_, err := fmt.Fprintf(g.w, "%s %s\n", objectRef(key), verb)
		return err
	}
	return printTable(g.w, kind, []model.Object{ev.Object}, tableOptions{format: g.out.format, allNS: g.f.allNamespaces, labels: g.f.showLabels, noHeader: true})
}
