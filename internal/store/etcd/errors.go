package etcd

import (
	"context"
	"errors"
	"fmt"

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
		return isUnavailableCode(st.Code())
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
