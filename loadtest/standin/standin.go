package standin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/steadyload/steadyload/loadtest"
)

// Label is set to "true" on every container, network and image this
// package makes, so that leftovers can be found and removed by label.
const Label = "org.steadyload.standin"

// session labels what this process started (Label + ".session"), so that
// its tests can check that nothing of theirs is left.
var session = newSession()

func newSession() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// labels are the labels of every container and network made here.
func labels() map[string]string {
	return map[string]string{Label: "true", Label + ".session": session}
}

// Defaults applied to the zero fields of a Container.
const (
	DefaultPort         = 8080
	DefaultStartTimeout = 60 * time.Second
)

// A Container describes one container of a stand-in. Exactly one of Image,
// Build and Main says what to run; the zero values of the other fields
// take the defaults above.
type Container struct {
	// Image is an image to run, e.g. "orders:1.4". It is pulled only when
	// absent locally.
	Image string
	// Build is a folder holding a Dockerfile to build; Dockerfile names it
	// within the folder (default "Dockerfile").
	Build      string
	Dockerfile string
	// Main is a Go main package ("./cmd/orders", relative to the test's
	// working directory, or an import path). It is built on the host with
	// CGO_ENABLED=0 for the Docker engine's platform and packaged FROM
	// scratch: no image is pulled. The image is tagged by the binary's
	// hash, so an unchanged binary reuses the image already built.
	Main string

	// Name is the name the other containers of the stand-in reach this one
	// by (default: from Image, Build or Main).
	Name string
	// Port is the container port serving HTTP (default 8080); it is
	// published on a free host port.
	Port int
	// Env is the container's environment.
	Env map[string]string
	// PassEnv lists host environment variables passed to the container
	// when set; a name ending in "*" passes every variable with that
	// prefix ("ORDERS_*"). Env wins over PassEnv.
	PassEnv []string
	// Cmd is the command, or the arguments of the image's entry point.
	Cmd []string

	// Health is an HTTP path that answers 2xx once the container is ready,
	// e.g. "/healthz". WaitLog is a line of its logs that says so, for
	// services that do not speak HTTP (a database: "ready to accept
	// connections"). With neither, the published port accepting a
	// connection counts as ready.
	Health  string
	WaitLog string
	// StartTimeout bounds the wait for readiness (default 60 s), build
	// excluded. A container not ready by then is an error carrying its
	// logs.
	StartTimeout time.Duration
}

// New returns a loadtest.StandIn for env (e.g. "container") that starts
// service, after deps, with Start.
func New(env string, service Container, deps ...Container) loadtest.StandIn {
	return loadtest.StandIn{
		Env: env,
		Start: func(tb testing.TB) (string, error) {
			tb.Helper()
			return Start(tb, service, deps...)
		},
	}
}

// Start starts deps in order, then service, and returns the base URL of
// service ("http://127.0.0.1:32768"). With deps, all of them share a
// network of their own, where each is reachable by its Name. Removal of
// everything started is registered with tb before any error is returned,
// and when tb has failed by then, the containers' last logs are logged.
//
// An error wrapping loadtest.ErrUnavailable means that Docker cannot be
// reached here; any other error is a stand-in that does not build or
// start, with the build output or the container's logs in it.
func Start(tb testing.TB, service Container, deps ...Container) (string, error) {
	tb.Helper()
	all := append(slices.Clone(deps), service)
	if err := validate(all); err != nil {
		return "", err
	}
	ctx := tb.Context()
	eng, err := connect(ctx)
	if err != nil {
		return "", err
	}
	var nw *testcontainers.DockerNetwork
	if len(deps) > 0 {
		nw, err = network.New(ctx, network.WithLabels(labels()))
		testcontainers.CleanupNetwork(tb, nw)
		if err != nil {
			return "", fmt.Errorf("create network: %w", err)
		}
	}
	var ctr testcontainers.Container
	for _, c := range all {
		if ctr, err = eng.start(tb, c.withDefaults(), nw); err != nil {
			return "", err
		}
	}
	svc := service.withDefaults()
	host, err := ctr.Host(ctx)
	if err != nil {
		return "", fmt.Errorf("%s: host: %w", svc.Name, err)
	}
	port, err := ctr.MappedPort(ctx, portSpec(svc.Port))
	if err != nil {
		return "", fmt.Errorf("%s: published port: %w", svc.Name, err)
	}
	return "http://" + net.JoinHostPort(host, port.Port()), nil
}

// validate reports every problem of the containers' descriptions.
func validate(cs []Container) error {
	var errs []error
	names := map[string]bool{}
	for i, c := range cs {
		what := c.withDefaults().Name
		if what == "" {
			what = "container " + strconv.Itoa(i+1)
		}
		n := 0
		for _, s := range []string{c.Image, c.Build, c.Main} {
			if s != "" {
				n++
			}
		}
		switch {
		case n == 0:
			errs = append(errs, fmt.Errorf("%s: nothing to run: set Image, Build or Main", what))
		case n > 1:
			errs = append(errs, fmt.Errorf("%s: set only one of Image (%q), Build (%q) and Main (%q)", what, c.Image, c.Build, c.Main))
		}
		if c.Dockerfile != "" && c.Build == "" {
			errs = append(errs, fmt.Errorf("%s: Dockerfile %q given without a Build folder", what, c.Dockerfile))
		}
		if c.Build != "" {
			df := filepath.Join(c.Build, cmp(c.Dockerfile, "Dockerfile"))
			if _, err := os.Stat(df); err != nil {
				errs = append(errs, fmt.Errorf("%s: no Dockerfile to build: %w", what, err))
			}
		}
		if c.Port < 0 || c.Port > 65535 {
			errs = append(errs, fmt.Errorf("%s: port %d is out of range", what, c.Port))
		}
		if c.StartTimeout < 0 {
			errs = append(errs, fmt.Errorf("%s: start timeout %s is negative", what, c.StartTimeout))
		}
		if c.Health != "" && !strings.HasPrefix(c.Health, "/") {
			errs = append(errs, fmt.Errorf("%s: health path %q does not start with /", what, c.Health))
		}
		if names[what] && len(cs) > 1 {
			errs = append(errs, fmt.Errorf("%s: two containers with this name: set Name", what))
		}
		names[what] = true
	}
	return errors.Join(errs...)
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

var nonName = regexp.MustCompile(`[^a-z0-9_.-]+`)

// withDefaults fills in the zero fields.
func (c Container) withDefaults() Container {
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	if c.Name == "" {
		var base string
		switch {
		case c.Image != "":
			base = path.Base(c.Image)
			if i := strings.IndexAny(base, ":@"); i > 0 {
				base = base[:i]
			}
		case c.Build != "":
			base = filepath.Base(filepath.Clean(c.Build))
		case c.Main != "":
			base = path.Base(filepath.ToSlash(filepath.Clean(c.Main)))
		}
		c.Name = strings.Trim(nonName.ReplaceAllString(strings.ToLower(base), "-"), "-._")
	}
	return c
}

// env is the container's environment: the passed host variables, then Env.
func (c Container) env() map[string]string {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		for _, p := range c.PassEnv {
			if pre, ok := strings.CutSuffix(p, "*"); ok && strings.HasPrefix(k, pre) || k == p {
				env[k] = v
			}
		}
	}
	for k, v := range c.Env {
		env[k] = v
	}
	return env
}

func portSpec(port int) string { return strconv.Itoa(port) + "/tcp" }

// waitFor is the readiness check of c.
func (c Container) waitFor() wait.Strategy {
	var ws []wait.Strategy
	if c.Health != "" {
		ws = append(ws, wait.ForHTTP(c.Health).
			WithPort(portSpec(c.Port)).
			WithStatusCodeMatcher(func(s int) bool { return s >= 200 && s < 300 }).
			WithPollInterval(100*time.Millisecond))
	}
	if c.WaitLog != "" {
		ws = append(ws, wait.ForLog(c.WaitLog).WithPollInterval(100*time.Millisecond))
	}
	if len(ws) == 0 {
		ws = append(ws, wait.ForListeningPort(portSpec(c.Port)).SkipInternalCheck().WithPollInterval(100*time.Millisecond))
	}
	return wait.ForAll(ws...).WithStartupTimeoutDefault(c.StartTimeout).WithDeadline(c.StartTimeout)
}

// start creates and starts one container, registering its removal (and
// its logs, should tb fail) before looking at the error.
func (e *engine) start(tb testing.TB, c Container, nw *testcontainers.DockerNetwork) (testcontainers.Container, error) {
	tb.Helper()
	ctx := tb.Context()
	req := testcontainers.GenericContainerRequest{
		ContainerRequest: testcontainers.ContainerRequest{
			Image:        c.Image,
			Env:          c.env(),
			Cmd:          c.Cmd,
			ExposedPorts: []string{portSpec(c.Port)},
			Labels:       labels(),
			WaitingFor:   c.waitFor(),
		},
		Started: true,
		Logger:  tclog.NewNoopLogger(), // the outcome is logged below, the evidence is in the error
	}
	if nw != nil {
		req.Networks = []string{nw.Name}
		req.NetworkAliases = map[string][]string{nw.Name: {c.Name}}
	}
	var buildLog strings.Builder
	what := c.Name
	switch {
	case c.Main != "":
		img, ctxDir, err := e.goImage(tb, c)
		if err != nil {
			return nil, err
		}
		req.Image = img
		if ctxDir != "" { // not built yet
			req.Image = ""
			repo, tag, _ := strings.Cut(img, ":")
			req.FromDockerfile = testcontainers.FromDockerfile{
				Context: ctxDir, Repo: repo, Tag: tag, KeepImage: true, BuildLogWriter: &buildLog,
			}
		}
		what = fmt.Sprintf("%s (image %s from %s)", c.Name, img, c.Main)
	case c.Build != "":
		req.FromDockerfile = testcontainers.FromDockerfile{
			Context: c.Build, Dockerfile: c.Dockerfile, BuildLogWriter: &buildLog,
			BuildOptionsModifier: labelBuild,
		}
		what = fmt.Sprintf("%s (built from %s)", c.Name, filepath.Join(c.Build, cmp(c.Dockerfile, "Dockerfile")))
	default:
		what = fmt.Sprintf("%s (image %s)", c.Name, c.Image)
	}

	t0 := time.Now()
	ctr, err := testcontainers.GenericContainer(ctx, req)
	testcontainers.CleanupContainer(tb, ctr)
	if ctr != nil {
		tb.Cleanup(func() {
			if tb.Failed() {
				tb.Logf("standin: %s: last logs:\n%s", what, tail(ctr))
			}
		})
	}
	if err != nil {
		return nil, e.startError(what, c, ctr, err, buildLog.String())
	}
	tb.Logf("standin: %s ready in %s", what, time.Since(t0).Round(time.Millisecond))
	return ctr, nil
}

// startError turns a failed start into an error with the evidence: the
// build output, or the container's state and last logs.
func (e *engine) startError(what string, c Container, ctr testcontainers.Container, err error, buildLog string) error {
	if strings.Contains(err.Error(), "reaper") {
		return fmt.Errorf("%s: %w\n(the testcontainers reaper, Ryuk, is an image pulled from a registry: where none is reachable, set TESTCONTAINERS_RYUK_DISABLED=true)", what, err)
	}
	if ctr == nil { // not created: the build or the creation failed
		if buildLog != "" {
			return fmt.Errorf("%s: %w\nbuild output:\n%s", what, err, indent(lastLines(buildLog, 40)))
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	logs := tail(ctr)
	st, serr := ctr.State(ctx)
	switch {
	case serr == nil && !st.Running:
		return fmt.Errorf("%s exited during start (exit code %d): %w\nits last logs:\n%s", what, st.ExitCode, err, logs)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s not ready within %s (%s): %w\nits last logs:\n%s", what, c.StartTimeout, readiness(c), err, logs)
	default:
		return fmt.Errorf("%s: %w\nits last logs:\n%s", what, err, logs)
	}
}

func readiness(c Container) string {
	var s []string
	if c.Health != "" {
		s = append(s, fmt.Sprintf("GET %s on port %d never answered 2xx", c.Health, c.Port))
	}
	if c.WaitLog != "" {
		s = append(s, fmt.Sprintf("log line %q never seen", c.WaitLog))
	}
	if len(s) == 0 {
		s = append(s, fmt.Sprintf("port %d never accepted a connection", c.Port))
	}
	return strings.Join(s, "; ")
}

// tail returns the container's last log lines, indented, or why not.
func tail(ctr testcontainers.Container) string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rc, err := ctr.Logs(ctx)
	if err != nil {
		return indent("(no logs: " + err.Error() + ")")
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 1<<20))
	if err != nil && len(b) == 0 {
		return indent("(no logs: " + err.Error() + ")")
	}
	if len(strings.TrimSpace(string(b))) == 0 {
		return indent("(empty)")
	}
	return indent(lastLines(string(b), 40))
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{fmt.Sprintf("… (%d lines before)", len(lines)-n)}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

func indent(s string) string { return "\t" + strings.ReplaceAll(s, "\n", "\n\t") }
