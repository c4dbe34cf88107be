package etcd

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// Store is the etcd backend. It is safe for concurrent use.
type Store struct {
	cli        *clientv3.Client
	kinds      resources
	reqTimeout time.Duration
	seen       seen // values recently read or written, to guard writes without a read
}

var _ store.Store = (*Store)(nil)

// New returns a store talking to the etcd cluster of cfg. It reads the TLS files and creates
// the client, which connects lazily: an unreachable cluster shows up as ErrUnavailable on the
// first request, not here.
func New(cfg store.Config) (*Store, error) {
	eps := cfg.Endpoints
	if len(eps) == 0 {
		eps = []string{store.DefaultEndpoint}
	}
	cc := clientv3.Config{
		Endpoints:   eps,
		DialTimeout: cfg.DialTimeout,
		Logger:      zap.NewNop(),
		// Keepalives let the client notice a dead member and move to another one.
		DialKeepAliveTime:    5 * time.Second,
		DialKeepAliveTimeout: 3 * time.Second,
	}
	if cc.DialTimeout == 0 {
		cc.DialTimeout = 5 * time.Second
	}
	if cfg.CAFile != "" || cfg.CertFile != "" || cfg.KeyFile != "" {
		info := transport.TLSInfo{CertFile: cfg.CertFile, KeyFile: cfg.KeyFile, TrustedCAFile: cfg.CAFile}
		tlsCfg, err := info.ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("datastore TLS (ca %q, cert %q, key %q): %w", cfg.CAFile, cfg.CertFile, cfg.KeyFile, err)
		}
		cc.TLS = tlsCfg
	}
	cli, err := clientv3.New(cc)
	if err != nil {
		return nil, fmt.Errorf("datastore client for %v: %w", eps, err)
	}
	s := &Store{cli: cli, kinds: newResources(model.Default), reqTimeout: cfg.RequestTimeout}
	if s.reqTimeout == 0 {
		s.reqTimeout = 15 * time.Second
	}
	return s, nil
}

// Close implements store.Store.
func (s *Store) Close() error { return s.cli.Close() }

// reqCtx bounds a request whose context has no deadline.
func (s *Store) reqCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, s.reqTimeout)
}

func revString(r int64) string { return strconv.FormatInt(r, 10) }

// Get implements store.Store.
func (s *Store) Get(ctx context.Context, kind *model.Kind, namespace, name string) (model.Object, error) {
	key := model.Key{Kind: kind, Namespace: namespace, Name: name}
	if err := store.CheckKey("get", key); err != nil {
		return nil, err
	}
	ctx, cancel := s.reqCtx(ctx)
	defer cancel()
	resp, err := s.cli.Get(ctx, objectKey(key))
	if err != nil {
		return nil, wrapErr("get", key.String(), err)
	}
	if len(resp.Kvs) == 0 {
		return nil, fmt.Errorf("get %s: %w", key, store.ErrNotFound)
	}
	kv := resp.Kvs[0]
	s.seen.put(string(kv.Key), kv.ModRevision, kv.Value)
	return store.Decode(kind, kv.Value, revString(kv.ModRevision))
}

// List implements store.Store: one range read, so the items and revision are one snapshot.
func (s *Store) List(ctx context.Context, kind *model.Kind, opts store.ListOptions) (*store.ListResult, error) {
	if kind == nil {
		return nil, fmt.Errorf("list: nil kind")
	}
	ctx, cancel := s.reqCtx(ctx)
	defer cancel()
	resp, err := s.cli.Get(ctx, prefix(kind, opts.Namespace), clientv3.WithPrefix())
	if err != nil {
		return nil, wrapErr("list", kind.Resource(), err)
	}
	res := &store.ListResult{Revision: revString(resp.Header.Revision), Items: []model.Object{}}
	for _, kv := range resp.Kvs {
		key, ok := s.kinds.parseKey(string(kv.Key))
		if !ok || key.Kind != kind || (opts.Namespace != "" && key.Namespace != opts.Namespace) {
			continue
		}
		obj, err := store.Decode(kind, kv.Value, revString(kv.ModRevision))
		if err != nil {
			return nil, fmt.Errorf("list %s: %s: %w", kind.Resource(), key, err)
		}
		if opts.Labels != nil && !opts.Labels.Matches(labels.Set(obj.GetLabels())) {
			continue
		}
		res.Items = append(res.Items, obj)
	}
	store.SortObjects(res.Items)
	return res, nil
}

// Create implements store.Store: put if the key has never been created (or was deleted).
func (s *Store) Create(ctx context.Context, obj model.Object) (model.Object, error) {
	key, out, data, err := store.NewRecord(obj, time.Now())
	if err != nil {
		return nil, err
	}
	ctx, cancel := s.reqCtx(ctx)
	defer cancel()
	k := objectKey(key)
	resp, err := s.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, string(data))).
		Commit()
	if err != nil {
		return nil, wrapErr("create", key.String(), err)
	}
	if !resp.Succeeded {
		return nil, fmt.Errorf("create %s: %w", key, store.ErrAlreadyExists)
	}
	s.seen.put(k, resp.Header.Revision, data)
	out.SetResourceVersion(revString(resp.Header.Revision))
	return out, nil
}

// Update implements store.Store. It reads the stored object (for uid, creationTimestamp and
// generation) and writes guarded by the mod revision it read; if another writer got in
// between, it reads again, so an unconditional update still never loses the server-managed
// metadata, and a conditional one then fails its precondition. A conditional update of a
// value this client has just read or written skips the first read (see seen).
func (s *Store) Update(ctx context.Context, obj model.Object) (model.Object, error) {
	key, err := store.KeyOf("update", obj)
	if err != nil {
		return nil, err
	}
	ctx, cancel := s.reqCtx(ctx)
	defer cancel()
	k := objectKey(key)
	for attempt := 0; ; attempt++ {
		old, modRev, err := s.readOrSeen(ctx, "update", key, obj.GetResourceVersion(), attempt == 0)
		if err != nil {
			return nil, err
		}
		if rv := obj.GetResourceVersion(); rv != "" && rv != revString(modRev) {
			return nil, fmt.Errorf("update %s: resourceVersion %s is not the stored %d: %w", key, rv, modRev, store.ErrConflict)
		}
		out, err := store.PrepareUpdate(key.Kind, old, obj)
		if err != nil {
			return nil, err
		}
		data, err := store.Encode(out)
		if err != nil {
			return nil, fmt.Errorf("update %s: %w", key, err)
		}
		resp, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(k), "=", modRev)).
			Then(clientv3.OpPut(k, string(data))).
			Commit()
		if err != nil {
			return nil, wrapErr("update", key.String(), err)
		}
		if resp.Succeeded {
			s.seen.put(k, resp.Header.Revision, data)
			out.SetResourceVersion(revString(resp.Header.Revision))
			return out, nil
		}
	}
}

// Delete implements store.Store, guarded like Update; preconditions are checked against
// the state actually deleted.
func (s *Store) Delete(ctx context.Context, kind *model.Kind, namespace, name string, opts store.DeleteOptions) (model.Object, error) {
	key := model.Key{Kind: kind, Namespace: namespace, Name: name}
	if err := store.CheckKey("delete", key); err != nil {
		return nil, err
	}
	ctx, cancel := s.reqCtx(ctx)
	defer cancel()
	k := objectKey(key)
	for attempt := 0; ; attempt++ {
		old, modRev, err := s.readOrSeen(ctx, "delete", key, opts.ResourceVersion, attempt == 0)
		if err != nil {
			return nil, err
		}
		if err := checkDelete(key, old, modRev, opts); err != nil {
			return nil, err
		}
		resp, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(k), "=", modRev)).
			Then(clientv3.OpDelete(k)).
			Commit()
		if err != nil {
			return nil, wrapErr("delete", key.String(), err)
		}
		if resp.Succeeded {
			s.seen.drop(k)
			return old, nil
		}
	}
}

// readOrSeen is read, except that when useSeen and the value of key at resourceVersion rv
// is remembered it returns that without a request. The caller's guarded write then finds
// out whether it is still current.
func (s *Store) readOrSeen(ctx context.Context, op string, key model.Key, rv string, useSeen bool) (model.Object, int64, error) {
	if useSeen && rv != "" {
		if data, rev, ok := s.seen.get(objectKey(key), rv); ok {
			if obj, err := store.Decode(key.Kind, data, rv); err == nil {
				return obj, rev, nil
			}
		}
	}
	return s.read(ctx, op, key)
}

// read returns the stored object and its mod revision, or ErrNotFound.
func (s *Store) read(ctx context.Context, op string, key model.Key) (model.Object, int64, error) {
	resp, err := s.cli.Get(ctx, objectKey(key))
	if err != nil {
		return nil, 0, wrapErr(op, key.String(), err)
	}
	if len(resp.Kvs) == 0 {
		return nil, 0, fmt.Errorf("%s %s: %w", op, key, store.ErrNotFound)
	}
	kv := resp.Kvs[0]
	s.seen.put(string(kv.Key), kv.ModRevision, kv.Value)
	obj, err := store.Decode(key.Kind, kv.Value, revString(kv.ModRevision))
	if err != nil {
		return nil, 0, fmt.Errorf("%s %s: %w", op, key, err)
	}
	return obj, kv.ModRevision, nil
}

// Compact discards history up to the current revision (an etcd compaction), after which a
// Watch from an older revision yields EventResync. Used by tests and maintenance.
func (s *Store) Compact(ctx context.Context) error {
	ctx, cancel := s.reqCtx(ctx)
	defer cancel()
	resp, err := s.cli.Get(ctx, root, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return wrapErr("compact", "datastore", err)
	}
	if _, err := s.cli.Compact(ctx, resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		return wrapErr("compact", "datastore at revision "+revString(resp.Header.Revision), err)
	}
	return nil
}
