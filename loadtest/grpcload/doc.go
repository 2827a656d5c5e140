// Package grpcload makes a task's gRPC calls measured calls of the run,
// with generated clients unchanged: each unary call through Conn is
// recorded (loadtest.User.Record) under its method's name,
// "GRPC /orders.Orders/Get", with its status code as its failure class,
// "grpc_NOT_FOUND", and carries the task's W3C traceparent and the run id
// as metadata, as the HTTP helpers send them as headers.
//
//	func getOrder(ctx context.Context, u *loadtest.User) error {
//		client := orderspb.NewOrdersClient(grpcload.Conn(u, cc)) // cc: one *grpc.ClientConn for the run
//		_, err := client.Get(ctx, &orderspb.GetRequest{Id: u.Rand.Int64N(1000)})
//		return err // the task's failure is classed by the same code
//	}
//
// Streams carry the metadata but are not recorded: the task that opens
// one times it as a whole, or records what it measures itself.
package grpcload
