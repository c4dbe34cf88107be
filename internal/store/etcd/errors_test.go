package etcd

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/trellisnet/trellis/internal/store"
)

func TestWrapErr(t *testing.T) {
	tests := []struct {
		name        string
		err         error
		unavailable bool
	}{
		{"deadline", context.DeadlineExceeded, true},
		{"wrapped deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), true},
		{"canceled by caller", context.Canceled, false},
		{"no leader", rpctypes.ErrNoLeader, true},
		{"timeout", rpctypes.ErrTimeout, true},
		{"leader changed", rpctypes.ErrLeaderChanged, true},
		{"grpc unavailable", status.Error(codes.Unavailable, "connection refused"), true},
		{"member stopping", status.Error(codes.Unknown, "raft: stopped"), true},
		{"compacted", rpctypes.ErrCompacted, false},
		{"too large", rpctypes.ErrRequestTooLarge, false},
		{"other unknown", status.Error(codes.Unknown, "something else"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := wrapErr("get", "Pod/ns1/web", tc.err)
			if got := errors.Is(err, store.ErrUnavailable); got != tc.unavailable {
				t.Errorf("errors.Is(%v, ErrUnavailable) = %v, want %v", err, got, tc.unavailable)
			}
			if !errors.Is(err, tc.err) {
				t.Errorf("%v does not wrap the original error", err)
			}
		})
	}
}
