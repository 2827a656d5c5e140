package grpcload

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/steadyload/steadyload/loadtest"
)

// TestCallError: a failed call is classed by its status code, unless the
// task's context ended it, and its error keeps the call's status.
func TestCallError(t *testing.T) {
	live := context.Background()
	cancelled, cancel := context.WithCancel(live)
	cancel()
	expired, cancel2 := context.WithTimeout(live, 0)
	defer cancel2()
	for _, tc := range []struct {
		name  string
		ctx   context.Context
		err   error
		class string
		code  codes.Code
	}{
		{"not found", live, status.Error(codes.NotFound, "unknown service"), "grpc_NOT_FOUND", codes.NotFound},
		{"the server's deadline", live, status.Error(codes.DeadlineExceeded, "slow"), "grpc_DEADLINE_EXCEEDED", codes.DeadlineExceeded},
		{"the task's timeout", expired, status.Error(codes.DeadlineExceeded, "context deadline exceeded"), loadtest.ClassTimeout, codes.DeadlineExceeded},
		{"the run's end", cancelled, status.Error(codes.Canceled, "context canceled"), loadtest.ClassStopped, codes.Canceled},
		{"cancelled, but not by the task", live, status.Error(codes.Canceled, "gone"), "grpc_CANCELLED", codes.Canceled},
		{"not a status", live, errors.New("codec broke"), "grpc_UNKNOWN", codes.Unknown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := newCallError(tc.ctx, tc.err)
			assert.Equal(t, tc.class, loadtest.Classify(err), "Classify(newCallError(%v))", tc.err)
			assert.Equal(t, tc.code, status.Code(err), "status.Code")
			assert.Equal(t, tc.err.Error(), err.Error(), "the message")
			assert.ErrorIs(t, err, tc.err)
		})
	}
}
