package standin

import (
	"context"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/testcontainers/testcontainers-go"
	"go.uber.org/goleak"

	"github.com/steadyload/steadyload/internal/orders"
	"github.com/steadyload/steadyload/loadtest"
)

// ordersMain is the example service, built into a FROM scratch image once
// and reused by every test of the package.
const ordersMain = "github.com/steadyload/steadyload/cmd/orders"

func orders8080() Container {
	return Container{Main: ordersMain, Name: "orders", Health: "/healthz", PassEnv: []string{"ORDERS_*"}}
}

func TestMain(m *testing.M) {
	flag.Parse()
	// Results of the harness runs go to a temporary folder, not the source tree.
	dir, err := os.MkdirTemp("", "standin-results")
	if err == nil {
		flag.Set("loadtest.out", dir)
		defer os.RemoveAll(dir)
	}
	goleak.VerifyTestMain(m,
		// The Docker client's keep-alive connections close on their own.
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

// requireDocker skips the test where no Docker engine answers, saying so,
// unless STEADYLOAD_REQUIRE_DOCKER is set (CI, a machine with Docker): then
// the container path must run, and its absence is a failure.
func requireDocker(t *testing.T) {
	t.Helper()
	if _, err := connect(t.Context()); err != nil {
		if os.Getenv("STEADYLOAD_REQUIRE_DOCKER") != "" {
			require.NoError(t, err, "STEADYLOAD_REQUIRE_DOCKER is set")
		}
		t.Skipf("no container stand-in on this machine: %v", err)
	}
}

// noLeftovers fails t if a container or network of this process is still
// there once t and its cleanups are done.
func noLeftovers(t *testing.T) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cli, err := testcontainers.NewDockerClientWithOpts(ctx)
		if !assert.NoError(t, err, "docker client") {
			return
		}
		defer cli.Close()
		f := client.Filters{}.Add("label", Label+".session="+session)
		cs, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
		assert.NoError(t, err, "list containers")
		// One failure per leftover, named, rather than a dump of the list.
		for _, c := range cs.Items {
			assert.Fail(t, "container left behind", "container %s (%s)", c.ID[:12], c.Image)
		}
		ns, err := cli.NetworkList(ctx, client.NetworkListOptions{Filters: f})
		assert.NoError(t, err, "list networks")
		for _, n := range ns.Items {
			assert.Fail(t, "network left behind", "network %s", n.Name)
		}
	})
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		cs   []Container
		want []string // substrings of the error; none: valid
	}{
		{"image", []Container{{Image: "orders:1"}}, nil},
		{"main", []Container{{Main: "./cmd/orders", Port: 9090, Health: "/healthz"}}, nil},
		{"nothing", []Container{{Port: 8080}}, []string{"container 1: nothing to run: set Image, Build or Main"}},
		{"two", []Container{{Image: "a", Main: "./cmd/b"}}, []string{`a: set only one of Image ("a"), Build ("") and Main ("./cmd/b")`}},
		{"dockerfile alone", []Container{{Image: "a", Dockerfile: "Dockerfile.x"}}, []string{`a: Dockerfile "Dockerfile.x" given without a Build folder`}},
		{"no dockerfile", []Container{{Build: dir}}, []string{"no Dockerfile to build", "Dockerfile"}},
		{"bad port and timeout", []Container{{Image: "a", Port: 70000, StartTimeout: -time.Second}}, []string{"a: port 70000 is out of range", "a: start timeout -1s is negative"}},
		{"health path", []Container{{Image: "a", Health: "healthz"}}, []string{`a: health path "healthz" does not start with /`}},
		{"same name", []Container{{Image: "x/db:1"}, {Image: "y/db:2"}}, []string{"db: two containers with this name: set Name"}},
		{"named apart", []Container{{Image: "x/db:1"}, {Image: "y/db:2", Name: "db2"}}, nil},
		{"every problem", []Container{{}, {Image: "a", Port: -1}}, []string{"container 1: nothing to run", "a: port -1 is out of range"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validate(tt.cs)
			if len(tt.want) == 0 {
				assert.NoError(t, err, "validate(%+v)", tt.cs)
				return
			}
			require.Error(t, err, "validate(%+v); want an error with %q", tt.cs, tt.want)
			for _, w := range tt.want {
				assert.ErrorContains(t, err, w, "validate(%+v)", tt.cs)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	tests := []struct {
		c    Container
		name string
	}{
		{Container{Image: "registry.example.com/team/Orders-API:1.4"}, "orders-api"},
		{Container{Image: "postgres@sha256:abc"}, "postgres"},
		{Container{Build: "./services/payments/"}, "payments"},
		{Container{Main: "./cmd/orders"}, "orders"},
		{Container{Main: "github.com/steadyload/steadyload/cmd/orders"}, "orders"},
		{Container{Main: "./cmd/orders", Name: "backend"}, "backend"},
	}
	for _, tt := range tests {
		got := tt.c.withDefaults()
		assert.Equal(t, tt.name, got.Name, "%+v.withDefaults().Name", tt.c)
		assert.Equal(t, DefaultPort, got.Port, "%+v.withDefaults().Port", tt.c)
		assert.Equal(t, DefaultStartTimeout, got.StartTimeout, "%+v.withDefaults().StartTimeout", tt.c)
	}
}

func TestEnv(t *testing.T) {
	t.Setenv("ORDERS_LATENCY_SCALE", "1.6")
	t.Setenv("ORDERS_SLOW", "POST /orders=2")
	t.Setenv("ORDERSX", "no")
	t.Setenv("TOKEN", "secret")
	c := Container{PassEnv: []string{"ORDERS_*", "TOKEN", "UNSET"}, Env: map[string]string{"ORDERS_SLOW": "", "MODE": "test"}}
	want := map[string]string{"ORDERS_LATENCY_SCALE": "1.6", "ORDERS_SLOW": "", "TOKEN": "secret", "MODE": "test"}
	assert.Equal(t, want, c.env(), "env()")
}

func TestGoarch(t *testing.T) {
	for in, want := range map[string]string{"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "s390x": "s390x"} {
		assert.Equal(t, want, goarch(in), "goarch(%q)", in)
	}
}

// TestUnavailable points DOCKER_HOST at a port where no engine listens:
// Start says so with loadtest.ErrUnavailable, and the harness runs the
// scenario against the next stand-in.
func TestUnavailable(t *testing.T) {
	t.Setenv("DOCKER_HOST", "tcp://127.0.0.1:1")
	_, err := Start(t, orders8080())
	require.ErrorIs(t, err, loadtest.ErrUnavailable, "Start with DOCKER_HOST=tcp://127.0.0.1:1")
	assert.ErrorContains(t, err, "DOCKER_HOST=tcp://127.0.0.1:1", "Start: the error names the DOCKER_HOST tried")

	local := loadtest.StandIn{Env: "local", Start: func(tb testing.TB) (string, error) {
		srv := httptest.NewServer(orders.New(orders.Config{NoSleep: true}).Handler())
		tb.Cleanup(srv.Close)
		return srv.URL, nil
	}}
	res := loadtest.Run(t, loadtest.Scenario{
		Rate: 20, Duration: time.Second, Window: time.Second,
		Tasks:    []loadtest.Task{{Name: "GET /users/{id}", Do: getUser}},
		StandIns: []loadtest.StandIn{New("container", orders8080()), local},
	})
	require.NotNil(t, res, "Run returned no result")
	assert.Equal(t, "local", res.Meta.StandIn, "the stand-in Run fell back to")
	assert.Equal(t, "local", res.Meta.Env, "the env Run fell back to")
}

func getUser(ctx context.Context, u *loadtest.User) error {
	_, err := u.Get(ctx, "/users/user1")
	return err
}

// TestContainerStandIn is the whole path for real: build the example
// service, start it in a container with its knobs passed through, run a
// short scenario against it, and remove it.
func TestContainerStandIn(t *testing.T) {
	requireDocker(t)
	noLeftovers(t)
	t.Setenv("ORDERS_LATENCY_SCALE", "0.5")
	res := loadtest.Run(t, loadtest.Scenario{
		Rate: 20, Duration: 2 * time.Second, Window: time.Second,
		// The path through the container is the point here, not the
		// generator's schedule keeping, which a busy machine (or -race on
		// two cores) disturbs: one late start in 40 is 2.5 %.
		LateTolerance: 100 * time.Millisecond, MaxLateRatio: 0.2,
		Tasks:    []loadtest.Task{{Name: "GET /users/{id}", Do: getUser}},
		StandIns: []loadtest.StandIn{New("container", orders8080())},
	})
	require.NotNil(t, res, "Run returned no result")
	assert.Equal(t, "container", res.Meta.StandIn, "the stand-in Run used")
	assert.Equal(t, "container", res.Meta.Env, "the env Run used")
	assert.GreaterOrEqual(t, res.Total.Requests, int64(20), "requests Run made")
	assert.Zero(t, res.Total.Failures, "requests that failed")
}

// TestStack starts two containers on a network of their own: a proxy
// built from a Dockerfile folder in front of the example service, which it
// reaches by name. Then the example service's image again, by name.
func TestStack(t *testing.T) {
	requireDocker(t)
	noLeftovers(t)
	eng, err := connect(t.Context())
	require.NoError(t, err, "connect")
	dir := t.TempDir()
	require.NoError(t, goBuild(t.Context(), "./testdata/proxy", filepath.Join(dir, "proxy"), eng.arch), "build the proxy")
	df := "FROM scratch\nCOPY proxy /proxy\nENTRYPOINT [\"/proxy\"]\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644), "write the Dockerfile")
	backend := orders8080()
	backend.Name = "backend"
	url, err := Start(t,
		Container{Build: dir, Name: "front", Env: map[string]string{"UPSTREAM": "http://backend:8080"}, Health: "/healthz"},
		backend)
	require.NoError(t, err, "Start(front, backend)")
	resp, err := http.Get(url + "/users/user1")
	require.NoError(t, err, "GET %s/users/user1", url)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode, "GET %s/users/user1: %s", url, body)
	assert.Equal(t, "proxy", resp.Header.Get("X-Proxied-By"), "GET %s/users/user1: want it through the proxy", url)

	built.Lock()
	var ref string
	for _, r := range built.m {
		if strings.HasPrefix(r, "steadyload-standin/orders:") {
			ref = r
		}
	}
	built.Unlock()
	require.NotEmpty(t, ref, "no image recorded for the backend")
	url, err = Start(t, Container{Image: ref, Health: "/healthz"})
	require.NoError(t, err, "Start(Image: %s)", ref)
	resp, err = http.Get(url + "/healthz")
	if assert.NoError(t, err, "GET %s/healthz", url) {
		resp.Body.Close()
		assert.Equal(t, 200, resp.StatusCode, "GET %s/healthz", url)
	}
}

// TestBadStandIns are the ways a stand-in fails to start: each is a clear
// error with the evidence, and nothing is left running.
func TestBadStandIns(t *testing.T) {
	requireDocker(t)
	noLeftovers(t)
	tests := []struct {
		name  string
		env   map[string]string
		c     Container
		wants []string
	}{{
		name:  "image does not build",
		c:     Container{Build: "testdata/badbuild"},
		wants: []string{"badbuild (built from testdata/badbuild/Dockerfile)", "build output:", "COPY no-such-file /no-such-file"},
	}, {
		name: "container exits at once",
		// An invalid knob, passed through from the host, stops the service.
		env:   map[string]string{"ORDERS_LATENCY_SCALE": "-1"},
		c:     orders8080(),
		wants: []string{"exited during start (exit code 1)", `its last logs:`, `ORDERS_LATENCY_SCALE="-1": want a non-negative number`},
	}, {
		name:  "health never ready",
		c:     Container{Main: ordersMain, Health: "/not-there", StartTimeout: 2 * time.Second},
		wants: []string{"not ready within 2s", "GET /not-there on port 8080 never answered 2xx", "its last logs:", "orders: listening on :8080"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			t0 := time.Now()
			url, err := Start(t, tt.c)
			require.Error(t, err, "Start(%+v) = %s", tt.c, url)
			assert.NotErrorIs(t, err, loadtest.ErrUnavailable, "Start(%+v): want a plain failure (the harness must not fall back)", tt.c)
			t.Logf("Start error:\n%v", err)
			for _, w := range tt.wants {
				assert.ErrorContains(t, err, w, "Start(%+v)", tt.c)
			}
			if tt.c.StartTimeout > 0 {
				assert.LessOrEqual(t, time.Since(t0), tt.c.StartTimeout+30*time.Second, "Start with StartTimeout %s: the wait is not bounded", tt.c.StartTimeout)
			}
		})
	}
}
