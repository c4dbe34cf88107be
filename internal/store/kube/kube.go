package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// Store is the Kubernetes API backend. It is safe for concurrent use.
type Store struct {
	dyn        dynamic.Interface
	raw        rest.Interface // for DELETE, whose answer the dynamic client drops
	kinds      []*model.Kind
	reqTimeout time.Duration
	// crdPoll is how often a watch checks whether the CRD of an upstream kind that was not
	// installed when it began is installed now (every agent polls: cheap 404s, kept rare).
	crdPoll time.Duration
	// hc is the store's own HTTP client: a custom dialer keeps client-go from sharing
	// transports between clients, so Close must close its connections.
	hc *http.Client
}

var _ store.Store = (*Store)(nil)

// New returns a store talking to the API server of cfg.Kubeconfig (or the in-cluster
// configuration when it is empty). It reads the kubeconfig and builds the client, which
// connects lazily: an unreachable server shows up as ErrUnavailable on the first request.
func New(cfg store.Config) (*Store, error) {
	rc, err := restConfig(cfg)
	if err != nil {
		return nil, err
	}
	// No client-side rate limit (client-go's default is 5 requests/s): the API server's
	// priority and fairness is the limit, as for controllers.
	rc.QPS = -1
	if rc.UserAgent == "" {
		rc.UserAgent = "trellis"
	}
	dial := cfg.DialTimeout
	if dial == 0 {
		dial = 5 * time.Second
	}
	if rc.Dial == nil {
		rc.Dial = (&net.Dialer{Timeout: dial, KeepAlive: 30 * time.Second}).DialContext
	}
	hc, err := rest.HTTPClientFor(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client for %s: %w", rc.Host, err)
	}
	dyn, err := dynamic.NewForConfigAndClient(rc, hc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client for %s: %w", rc.Host, err)
	}
	raw, err := rest.UnversionedRESTClientForConfigAndClient(dynamic.ConfigFor(rc), hc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client for %s: %w", rc.Host, err)
	}
	s := &Store{dyn: dyn, raw: raw, kinds: model.Default.Kinds(), reqTimeout: cfg.RequestTimeout, hc: hc,
		crdPoll: 30 * time.Second}
	if s.reqTimeout == 0 {
		s.reqTimeout = 15 * time.Second
	}
	return s, nil
}

func restConfig(cfg store.Config) (*rest.Config, error) {
	if cfg.Kubeconfig == "" {
		rc, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("kubernetes in-cluster configuration (no kubeconfig given): %w", err)
		}
		return rc, nil
	}
	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: cfg.Kubeconfig}
	over := &clientcmd.ConfigOverrides{CurrentContext: cfg.KubeContext}
	rc, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, over).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("kubeconfig %s: %w", cfg.Kubeconfig, err)
	}
	return rc, nil
}

// Close implements store.Store: it closes the client's idle connections (requests and
// watches still running keep theirs until they end).
func (s *Store) Close() error {
	s.hc.CloseIdleConnections()
	return nil
}

// Resource is the API resource that serves kind: the built-in one for Kubernetes kinds, the
// CRD of deploy/crds for Calico and Trellis kinds (both are group, version and plural).
func Resource(kind *model.Kind) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: kind.Group, Version: kind.Version, Resource: kind.Plural}
}

// client returns the dynamic client of kind, scoped to namespace for a namespaced kind
// (all namespaces when namespace is empty).
func (s *Store) client(kind *model.Kind, namespace string) dynamic.ResourceInterface {
	r := s.dyn.Resource(Resource(kind))
	if kind.Namespaced && namespace != "" {
		return r.Namespace(namespace)
	}
	return r
}

// reqCtx bounds a request whose context has no deadline.
func (s *Store) reqCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, s.reqTimeout)
}

// Get implements store.Store with a quorum read.
func (s *Store) Get(ctx context.Context, kind *model.Kind, namespace, name string) (model.Object, error) {
	key := model.Key{Kind: kind, Namespace: namespace, Name: name}
	if err := store.CheckKey("get", key); err != nil {
		return nil, err
	}
	ctx, cancel := s.reqCtx(ctx)
	defer cancel()
	if v := views[kind]; v != nil {
		obj, _, err := s.getView(ctx, "get", v, key)
		return obj, err
	}
	u, err := s.client(kind, namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, wrapErr("get", key.String(), err)
	}
	return decode("get", key, u)
}

// currentRevision is the API server's current resourceVersion: that of a one-item list of
// namespaces (a quorum read).
func (s *Store) currentRevision(ctx context.Context) (string, error) {
	ul, err := s.client(model.KindNamespace, "").List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return "", err
	}
	return ul.GetResourceVersion(), nil
}

// List implements store.Store: one list request (a quorum read, not paginated), so the
// items and revision are one snapshot; the label selector is evaluated by the API server.
func (s *Store) List(ctx context.Context, kind *model.Kind, opts store.ListOptions) (*store.ListResult, error) {
	if kind == nil {
		return nil, fmt.Errorf("list: nil kind")
	}
	if v := views[kind]; v != nil {
		ctx, cancel := s.reqCtx(ctx)
		defer cancel()
		return s.listView(ctx, v, opts)
	}
	lo := metav1.ListOptions{}
	if opts.Labels != nil && !opts.Labels.Empty() {
		lo.LabelSelector = opts.Labels.String()
	}
	ctx, cancel := s.reqCtx(ctx)
	defer cancel()
	ul, err := s.client(kind, opts.Namespace).List(ctx, lo)
	if kind.UpstreamCRD && apierrors.IsNotFound(err) {
		// Its CRD is not installed: there are none, as of now. The revision must still be
		// one: a watch of every kind from an empty one starts from "now" and misses what
		// changed since the lists before it (the agent watches from its first list's).
		rev, err := s.currentRevision(ctx)
		if err != nil {
			return nil, collectionErr("list", kind, err)
		}
		return &store.ListResult{Revision: rev}, nil
	}
	if err != nil {
		return nil, collectionErr("list", kind, err)
	}
	res := &store.ListResult{Revision: ul.GetResourceVersion(), Items: make([]model.Object, 0, len(ul.Items))}
	for i := range ul.Items {
		u := &ul.Items[i]
		if opts.Namespace != "" && u.GetNamespace() != opts.Namespace {
			continue // a cluster-scoped kind listed with a namespace: nothing matches
		}
		obj, err := decode("list", model.Key{Kind: kind, Namespace: u.GetNamespace(), Name: u.GetName()}, u)
		if err != nil {
			return nil, err
		}
		res.Items = append(res.Items, obj)
	}
	store.SortObjects(res.Items)
	return res, nil
}

// Create implements store.Store. The API server sets uid, creationTimestamp, generation
// and resourceVersion (and its defaults and admission changes).
func (s *Store) Create(ctx context.Context, obj model.Object) (model.Object, error) {
	key, err := store.KeyOf("create", obj)
	if err != nil {
		return nil, err
	}
	if v := views[key.Kind]; v != nil {
		ctx, cancel := s.reqCtx(ctx)
		defer cancel()
		return s.writeView(ctx, "create", v, key, obj, true)
	}
	body, err := encode("create", key, obj)
	if err != nil {
		return nil, err
	}
	ctx, cancel := s.reqCtx(ctx)
	defer cancel()
	u, err := s.client(key.Kind, key.Namespace).Create(ctx, &unstructured.Unstructured{Object: body}, metav1.CreateOptions{})
	if err != nil {
		return nil, wrapErr("create", key.String(), err)
	}
	return decode("create", key, u)
}

// Update implements store.Store. With a resourceVersion it is one update the API server
// guards with that version (409 Conflict -> ErrConflict). Without one it reads the current
// version and updates guarded by it, reading again after a conflict, as the etcd backend
// does (custom resources refuse unconditional updates). A kind whose status is a
// subresource gets a second, guarded write of the status when the caller's non-empty
// status differs from what the first write kept.
func (s *Store) Update(ctx context.Context, obj model.Object) (model.Object, error) {
	key, err := store.KeyOf("update", obj)
	if err != nil {
		return nil, err
	}
	if v := views[key.Kind]; v != nil {
		ctx, cancel := s.reqCtx(ctx)
		defer cancel()
		return s.writeView(ctx, "update", v, key, obj, false)
	}
	body, err := encode("update", key, obj)
	if err != nil {
		return nil, err
	}
	ctx, cancel := s.reqCtx(ctx)
	defer cancel()
	ri := s.client(key.Kind, key.Namespace)
	rv := obj.GetResourceVersion()
	for {
		cur := rv
		if cur == "" {
			old, err := ri.Get(ctx, key.Name, metav1.GetOptions{})
			if err != nil {
				return nil, wrapErr("update", key.String(), err)
			}
			cur = old.GetResourceVersion()
		}
		u := &unstructured.Unstructured{Object: body}
		u.SetResourceVersion(cur)
		out, err := ri.Update(ctx, u, metav1.UpdateOptions{})
		if err == nil {
			return s.updateStatus(ctx, ri, key, body, out)
		}
		if rv != "" || !apierrors.IsConflict(err) {
			return nil, wrapErr("update", key.String(), err)
		}
	}
}

// updateStatus writes body's status through the status subresource when the kind has one
// and the main update did not keep it.
func (s *Store) updateStatus(ctx context.Context, ri dynamic.ResourceInterface, key model.Key, body map[string]any, out *unstructured.Unstructured) (model.Object, error) {
	want, ok := body["status"].(map[string]any)
	if !statusSubresource(key.Kind) || !ok || len(want) == 0 || sameJSON(want, out.Object["status"]) {
		return decode("update", key, out)
	}
	out.Object["status"] = want
	u, err := ri.UpdateStatus(ctx, out, metav1.UpdateOptions{})
	if err != nil {
		return nil, wrapErr("update status of", key.String(), err)
	}
	return decode("update", key, u)
}

// Delete implements store.Store. It reads the object, checks the caller's preconditions
// against it and deletes guarded by that state's uid and resourceVersion; without a
// resourceVersion precondition a concurrent write makes it read again. It returns the last
// state: the API server's answer when that is the object (a Pod: Kubernetes first marks it
// with deletionTimestamp, one more write and a MODIFIED event, then removes it), else the
// state read. Kubernetes' own deletion rules apply: an object with finalizers (a Namespace)
// or a graceful deletion (a Pod bound to a node) is left terminating, and its DELETED event
// comes when its owner (namespace controller, kubelet) finishes.
func (s *Store) Delete(ctx context.Context, kind *model.Kind, namespace, name string, opts store.DeleteOptions) (model.Object, error) {
	key := model.Key{Kind: kind, Namespace: namespace, Name: name}
	if err := store.CheckKey("delete", key); err != nil {
		return nil, err
	}
	ctx, cancel := s.reqCtx(ctx)
	defer cancel()
	if v := views[kind]; v != nil {
		return s.deleteView(ctx, v, key, opts)
	}
	ri := s.client(kind, namespace)
	for {
		old, err := ri.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, wrapErr("delete", key.String(), err)
		}
		if rv := old.GetResourceVersion(); opts.ResourceVersion != "" && opts.ResourceVersion != rv {
			return nil, fmt.Errorf("delete %s: precondition resourceVersion %s is not the stored %s: %w", key, opts.ResourceVersion, rv, store.ErrConflict)
		}
		if opts.UID != "" && opts.UID != string(old.GetUID()) {
			return nil, fmt.Errorf("delete %s: precondition uid %s is not the stored %s: %w", key, opts.UID, old.GetUID(), store.ErrConflict)
		}
		uid, rv := old.GetUID(), old.GetResourceVersion()
		last, err := s.delete(ctx, key, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid, ResourceVersion: &rv}})
		if err == nil {
			if last == nil {
				last = old
			}
			return decode("delete", key, last)
		}
		if opts.ResourceVersion != "" || !apierrors.IsConflict(err) {
			return nil, wrapErr("delete", key.String(), err)
		}
	}
}

// delete sends one DELETE and returns the object the API server answers with, or nil when
// it answers with a Status (custom resources do).
func (s *Store) delete(ctx context.Context, key model.Key, opts metav1.DeleteOptions) (*unstructured.Unstructured, error) {
	body, err := json.Marshal(&opts)
	if err != nil {
		return nil, err
	}
	out, err := s.raw.Delete().AbsPath(objectPath(key)...).
		SetHeader("Content-Type", "application/json").Body(body).Do(ctx).Raw()
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	if u.UnmarshalJSON(out) != nil || u.GetKind() != key.Kind.Kind {
		return nil, nil // a Status, or nothing usable: the caller has the state it read
	}
	return u, nil
}

// objectPath is the URL path of an object: /api/v1/... for the core group, else /apis/GROUP/VERSION/...
func objectPath(key model.Key) []string {
	p := []string{"apis", key.Kind.Group, key.Kind.Version}
	if key.Kind.Group == "" {
		p = []string{"api", key.Kind.Version}
	}
	if key.Kind.Namespaced {
		p = append(p, "namespaces", key.Namespace)
	}
	return append(p, key.Kind.Plural, key.Name)
}

// RESTConfig is the client configuration New uses for cfg: cfg.Kubeconfig, else the
// in-cluster configuration. For components that talk to the API server besides the store
// (the webhook's certificate Secret).
func RESTConfig(cfg store.Config) (*rest.Config, error) { return restConfig(cfg) }
