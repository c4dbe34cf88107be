package kube

import (
	"context"
	"errors"
	"fmt"
	"net"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/trellisnet/trellis/internal/model"
	"github.com/trellisnet/trellis/internal/store"
)

// wrapErr turns a client-go error into one naming op and object and wrapping the store
// sentinel it means: the one place API status codes become store errors.
func wrapErr(op, object string, err error) error {
	if sentinel := sentinelOf(err); sentinel != nil {
		return fmt.Errorf("%s %s: %w: %w", op, object, sentinel, err)
	}
	return fmt.Errorf("%s %s: %w", op, object, err)
}

// collectionErr is wrapErr for a request on a whole resource (list, watch), where 404 means
// that the API server does not serve it: a CRD of deploy/crds is not installed.
func collectionErr(op string, kind *model.Kind, err error) error {
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("%s %s: the API server does not serve %s (are the CRDs of deploy/crds installed?): %w",
			op, kind.Resource(), Resource(kind).String(), err)
	}
	return wrapErr(op, kind.Resource(), err)
}

func sentinelOf(err error) error {
	switch {
	case apierrors.IsNotFound(err):
		return store.ErrNotFound
	case apierrors.IsAlreadyExists(err):
		return store.ErrAlreadyExists
	case apierrors.IsConflict(err):
		return store.ErrConflict // also a failed delete precondition
	case apierrors.IsRequestEntityTooLargeError(err):
		return store.ErrTooLarge
	case unavailable(err):
		return store.ErrUnavailable
	}
	return nil
}

// unavailable: the API server could not be reached or could not serve the request now.
func unavailable(err error) bool {
	switch {
	case errors.Is(err, context.Canceled):
		return false // the caller gave up; not the datastore's fault
	case errors.Is(err, context.DeadlineExceeded):
		return true
	case apierrors.IsServiceUnavailable(err), apierrors.IsServerTimeout(err),
		apierrors.IsTimeout(err), apierrors.IsTooManyRequests(err):
		return true
	}
	if _, ok := err.(apierrors.APIStatus); ok {
		return false
	}
	var ne net.Error // connection refused, reset, TLS handshake timeout (*url.Error)
	return errors.As(err, &ne)
}

// gone: the watch cannot continue from its resourceVersion (410 Gone, "too old resource
// version"): the history was compacted.
func gone(err error) bool {
	return apierrors.IsResourceExpired(err) || apierrors.IsGone(err)
}
