package grpcload_test

import (
	"context"
	"flag"
	"net"
	"os"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/steadyload/steadyload/loadtest"
	"github.com/steadyload/steadyload/loadtest/grpcload"
	"github.com/steadyload/steadyload/loadtest/result"
)

func TestMain(m *testing.M) {
	flag.Parse()
	// The harness's results go to a temporary folder, not the source tree.
	dir, err := os.MkdirTemp("", "grpcload-results")
	if err == nil {
		flag.Set("loadtest.out", dir)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// seen is what the server saw of the calls' metadata.
type seen struct {
	mu           sync.Mutex
	runIDs       map[string]int
	traceparents []string
}

// healthServer starts grpc-go's health service on loopback, serving
// "orders" and knowing no other service, and returns its address.
func healthServer(t *testing.T, s *seen) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		s.mu.Lock()
		for _, id := range md.Get(grpcload.RunKey) {
			s.runIDs[id]++
		}
		s.traceparents = append(s.traceparents, md.Get(grpcload.TraceKey)...)
		s.mu.Unlock()
		return h(ctx, req)
	}))
	hs := health.NewServer()
	hs.SetServingStatus("orders", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// TestScenario: a scenario's gRPC calls, some to a service the server
// does not know, are recorded under their method's name, the failed ones
// classed by their status code, in the task's row too; the server sees
// the run id and the task's traceparent on every call.
func TestScenario(t *testing.T) {
	s := &seen{runIDs: map[string]int{}}
	addr := healthServer(t, s)
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { cc.Close() })

	var started, calls, notFound, statusKept atomic.Int64
	var mu sync.Mutex
	traceIDs := map[string]bool{}
	check := func(ctx context.Context, u *loadtest.User) error {
		client := healthpb.NewHealthClient(grpcload.Conn(u, cc))
		// One call in ten to a service the server does not know, never
		// more: the abort guard stops a run whose failures pass 20 %.
		service := "orders"
		if started.Add(1)%10 == 0 {
			service = "billing"
		}
		mu.Lock()
		traceIDs[u.TraceID()] = true
		mu.Unlock()
		_, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		calls.Add(1)
		want := codes.OK
		if service == "billing" {
			notFound.Add(1)
			want = codes.NotFound
		}
		if status.Code(err) == want {
			statusKept.Add(1)
		}
		return err
	}
	res := loadtest.Run(t, loadtest.Scenario{
		Host: "http://" + addr, Users: 2, SpawnRate: 10, Wait: loadtest.Constant(50 * time.Millisecond),
		Duration: 2 * time.Second, Seed: 3, MaxFailureRatio: -1,
		Tasks: []loadtest.Task{{Name: "health check", Do: check}},
	})
	require.NotNil(t, res)
	n := calls.Load()
	require.Positive(t, n, "calls made")
	require.Positive(t, notFound.Load(), "calls to an unknown service")
	assert.Equal(t, n, statusKept.Load(), "calls whose error kept its status code")

	name := grpcload.Name(healthpb.Health_Check_FullMethodName)
	assert.Equal(t, "GRPC /grpc.health.v1.Health/Check", name)
	rows := map[string]*result.Task{}
	for _, tk := range res.Tasks {
		rows[tk.Key()] = tk
	}
	require.Len(t, rows, 2, "the task's row and the method's")
	for _, key := range []string{"health check", name} {
		tk := rows[key]
		if !assert.NotNil(t, tk, "row %q", key) {
			continue
		}
		assert.Equal(t, n, tk.Requests, "%s: requests", key)
		assert.Equal(t, notFound.Load(), tk.Failures, "%s: failures", key)
	}
	assert.Equal(t, "GRPC", rows[name].Type, "the method's row: its type")
	classes := map[string]int64{}
	for _, f := range res.Failures {
		classes[f.Name+" "+f.Class] += f.Occurrences
	}
	assert.Equal(t, map[string]int64{
		"health check grpc_NOT_FOUND":                 notFound.Load(),
		"/grpc.health.v1.Health/Check grpc_NOT_FOUND": notFound.Load(),
	}, classes, "failures by row and class")

	s.mu.Lock()
	defer s.mu.Unlock()
	assert.Equal(t, map[string]int{res.Meta.RunID: int(n)}, s.runIDs, "run ids the server saw")
	require.Len(t, s.traceparents, int(n), "traceparents the server saw")
	tp := regexp.MustCompile(`^00-([0-9a-f]{32})-[0-9a-f]{16}-01$`)
	for _, v := range s.traceparents {
		m := tp.FindStringSubmatch(v)
		if assert.NotNil(t, m, "traceparent %q", v) {
			assert.True(t, traceIDs[m[1]], "traceparent %q: the trace id of a task", v)
		}
	}
}

func TestClass(t *testing.T) {
	for _, tc := range []struct {
		code codes.Code
		want string
	}{
		{codes.OK, ""},
		{codes.NotFound, "grpc_NOT_FOUND"},
		{codes.Unavailable, "grpc_UNAVAILABLE"},
		{codes.DeadlineExceeded, "grpc_DEADLINE_EXCEEDED"},
		{codes.Unauthenticated, "grpc_UNAUTHENTICATED"},
		{codes.Code(99), "grpc_CODE(99)"},
	} {
		assert.Equal(t, tc.want, grpcload.Class(tc.code), "Class(%v)", tc.code)
	}
}
