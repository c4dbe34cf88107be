package etcd

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/trellisnet/trellis/internal/store"
)

// wrapErr turns an etcd client error into one naming op and object, wrapping
// store.ErrUnavailable when the cluster could not serve the request.
func wrapErr(op, object string, err error) error {
	if unavailable(err) {
		return fmt.Errorf("%s %s: %w: %w", op, object, store.ErrUnavailable, err)
	}
	return fmt.Errorf("%s %s: %w", op, object, err)
}

func unavailable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	if errors.Is(err, context.Canceled) {
		return false // the caller gave up; not the datastore's fault
	}
	var ee rpctypes.EtcdError
	if errors.As(err, &ee) {
		return isUnavailableCode(ee.Code())
	}
	if st, ok := status.FromError(err); ok {
		if st.Code() == codes.Unknown {
			return transientServerError(st.Message())
		}
		return isUnavailableCode(st.Code())
	}
	return false
}

// transientServerError recognises errors a stopping or overloaded member returns untyped
// (gRPC code Unknown): the request may or may not have been applied, and another member
// can serve it. This is the one place that looks at etcd's error text.
func transientServerError(msg string) bool {
	for _, m := range []string{"raft: stopped", "raft proposal dropped", "etcdserver: server stopped"} {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return false
}

func isUnavailableCode(c codes.Code) bool {
	switch c {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Aborted, codes.ResourceExhausted:
		return true
	}
	return false
}
