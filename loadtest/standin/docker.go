package standin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/steadyload/steadyload/loadtest"
)

// pingTimeout bounds the check that Docker answers.
const pingTimeout = 10 * time.Second

// engine is a Docker engine that answered.
type engine struct {
	arch string // GOARCH of the engine's machine
}

// connect checks that a Docker engine answers, and says where it does not
// with an error wrapping loadtest.ErrUnavailable. A DOCKER_HOST that is set
// is the engine meant: it is checked itself, with no fallback on another.
func connect(ctx context.Context) (e *engine, err error) {
	defer func() {
		// testcontainers panics on some set-ups where no engine is found.
		if r := recover(); r != nil {
			e, err = nil, fmt.Errorf("docker: %w: %v", loadtest.ErrUnavailable, r)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		cli, err := client.New(client.FromEnv)
		if err != nil {
			return nil, fmt.Errorf("docker: %w: DOCKER_HOST=%s: %v", loadtest.ErrUnavailable, h, err)
		}
		_, err = cli.Ping(ctx, client.PingOptions{})
		cli.Close()
		if err != nil {
			return nil, fmt.Errorf("docker: %w: DOCKER_HOST=%s does not answer: %v", loadtest.ErrUnavailable, h, err)
		}
	}
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return nil, fmt.Errorf("docker: %w: %v", loadtest.ErrUnavailable, err)
	}
	defer cli.Close()
	info, err := cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		return nil, fmt.Errorf("docker: %w: %v", loadtest.ErrUnavailable, err)
	}
	if ost := info.Info.OSType; ost != "" && ost != "linux" {
		return nil, fmt.Errorf("docker: %w: the engine runs %s containers, not linux", loadtest.ErrUnavailable, ost)
	}
	return &engine{arch: goarch(info.Info.Architecture)}, nil
}

// goarch maps an engine's architecture (uname -m) to a GOARCH.
func goarch(machine string) string {
	switch machine {
	case "x86_64", "amd64":
		return "amd64"
	case "aarch64", "arm64":
		return "arm64"
	case "armv7l", "armv6l", "arm":
		return "arm"
	case "s390x", "ppc64le", "riscv64":
		return machine
	}
	return runtime.GOARCH
}

// imageExists reports whether the engine holds the image ref.
func imageExists(ctx context.Context, ref string) (bool, error) {
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return false, err
	}
	defer cli.Close()
	_, err = cli.ImageInspect(ctx, ref)
	switch {
	case err == nil:
		return true, nil
	case errdefs.IsNotFound(err):
		return false, nil
	}
	return false, err
}

// labelBuild labels an image built from a Dockerfile.
func labelBuild(o *client.ImageBuildOptions) {
	if o.Labels == nil {
		o.Labels = map[string]string{}
	}
	o.Labels[Label] = "true"
}

// dockerfile packages a static binary and nothing else.
const dockerfile = `FROM scratch
LABEL ` + Label + `="true"
COPY app /app
ENTRYPOINT ["/app"]
`

// built remembers the images built from Go main packages in this process,
// keyed by package, working directory and architecture.
var built = struct {
	sync.Mutex
	m map[string]string
}{m: map[string]string{}}

// goImage returns the image of c.Main. When the engine does not hold it
// yet, it also returns a build context (in a temporary folder of tb): the
// static binary and a Dockerfile FROM scratch.
func (e *engine) goImage(tb testing.TB, c Container) (ref, contextDir string, err error) {
	wd, _ := os.Getwd()
	key := c.Main + "\x00" + wd + "\x00" + e.arch
	built.Lock()
	defer built.Unlock()
	ctx := tb.Context()
	if ref := built.m[key]; ref != "" {
		if ok, err := imageExists(ctx, ref); err == nil && ok {
			return ref, "", nil
		}
	}
	dir := tb.TempDir()
	bin := filepath.Join(dir, "app")
	if err := goBuild(ctx, c.Main, bin, e.arch); err != nil {
		return "", "", err
	}
	sum, err := fileHash(bin)
	if err != nil {
		return "", "", err
	}
	ref = "steadyload-standin/" + Container{Main: c.Main}.withDefaults().Name + ":" + sum[:16]
	ok, err := imageExists(ctx, ref)
	if err != nil {
		return "", "", fmt.Errorf("%s: look for image %s: %w", c.Name, ref, err)
	}
	built.m[key] = ref
	if ok {
		return ref, "", nil
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		return "", "", err
	}
	return ref, dir, nil
}

// goBuild builds the main package pkg into out as a static linux binary
// for arch. The build is reproducible (no VCS stamp, trimmed paths), so an
// unchanged package gives the same binary and the same image tag.
func goBuild(ctx context.Context, pkg, out, arch string) error {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.CommandContext(ctx, goCmd, "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
	var b strings.Builder
	cmd.Stdout, cmd.Stderr = &b, &b
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s (GOOS=linux GOARCH=%s CGO_ENABLED=0): %w\n%s", pkg, arch, err, indent(strings.TrimSpace(b.String())))
	}
	return nil
}

func fileHash(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
