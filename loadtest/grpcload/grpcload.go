package grpcload

import (
	"context"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/steadyload/steadyload/loadtest"
)

// RunKey is the metadata key that carries the run id: the HTTP helpers'
// X-Loadtest-Run header, in gRPC's lower case.
const RunKey = "x-loadtest-run"

// TraceKey is the metadata key that carries the task's W3C traceparent.
const TraceKey = "traceparent"

// Conn returns cc as the task of u calls it: a connection to hand to a
// generated client (orderspb.NewOrdersClient(grpcload.Conn(u, cc))) for
// the task's calls. Make one per task; cc is shared by the whole run.
func Conn(u *loadtest.User, cc grpc.ClientConnInterface) grpc.ClientConnInterface {
	return &conn{u: u, cc: cc}
}

type conn struct {
	u  *loadtest.User
	cc grpc.ClientConnInterface
}

var _ grpc.ClientConnInterface = (*conn)(nil)

// Invoke makes a unary call through the underlying connection and records
// it under Name(method). Its error, if any, keeps the call's status
// (status.Code and status.FromError read it as before) and names its
// failure class (Class).
func (c *conn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	ctx = c.outgoing(ctx)
	start := time.Now()
	err := c.cc.Invoke(ctx, method, args, reply, opts...)
	took := time.Since(start)
	if err != nil {
		err = newCallError(ctx, err)
	}
	c.u.Record(Name(method), took, err)
	return err
}

// NewStream opens a stream through the underlying connection, with the
// run's metadata; the stream is not recorded.
func (c *conn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return c.cc.NewStream(c.outgoing(ctx), desc, method, opts...)
}

// outgoing adds the task's traceparent and the run id to ctx's metadata.
func (c *conn) outgoing(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, TraceKey, c.u.Traceparent(), RunKey, c.u.RunID())
}

// Name is the name a call of method ("/orders.Orders/Get") is recorded
// under: "GRPC /orders.Orders/Get", of type GRPC in the result files.
func Name(method string) string { return "GRPC " + method }

// Class is the failure class of a call that ended with status code c:
// "grpc_" and the code's canonical name, as google.rpc.Code spells it
// ("grpc_NOT_FOUND", "grpc_UNAVAILABLE", "grpc_CANCELLED"), or "" for OK.
func Class(c codes.Code) string {
	if c == codes.OK {
		return ""
	}
	name, ok := code.Code_name[int32(c)]
	if !ok {
		name = strings.ToUpper(c.String())
	}
	return "grpc_" + name
}

// callError is a failed call's error: the call's own, its status, and
// its failure class.
type callError struct {
	err   error
	st    *status.Status
	class string
}

// newCallError classes err, a call's error: by its status code, unless
// the task's context ended it (its timeout, the end of the run), which is
// classed as the harness classes it.
func newCallError(ctx context.Context, err error) error {
	st := status.Convert(err)
	e := &callError{err: err, st: st, class: Class(st.Code())}
	if ctxErr := ctx.Err(); ctxErr != nil && (st.Code() == codes.Canceled || st.Code() == codes.DeadlineExceeded) {
		e.class = loadtest.Classify(ctxErr)
	}
	return e
}

func (e *callError) Error() string { return e.err.Error() }

// Unwrap returns the call's own error.
func (e *callError) Unwrap() error { return e.err }

// GRPCStatus is the call's status, as status.FromError reads it.
func (e *callError) GRPCStatus() *status.Status { return e.st }

// FailureClass is the call's failure class, as loadtest.Classify reads it.
func (e *callError) FailureClass() string { return e.class }

var _ loadtest.ClassedError = (*callError)(nil)
