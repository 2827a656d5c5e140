package deploy

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// requireDocker skips t where no Docker engine answers, unless
// STEADYLOAD_REQUIRE_DOCKER is set, where it fails.
func requireDocker(t *testing.T) {
	t.Helper()
	why := ""
	if _, err := exec.LookPath("docker"); err != nil {
		why = "no docker command"
	} else {
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		if out, err := exec.CommandContext(ctx, "docker", "info").CombinedOutput(); err != nil {
			why = "docker info: " + strings.TrimSpace(lastLine(string(out)))
		}
	}
	if why == "" {
		return
	}
	if os.Getenv("STEADYLOAD_REQUIRE_DOCKER") != "" {
		t.Fatalf("STEADYLOAD_REQUIRE_DOCKER is set but Docker is unavailable: %s", why)
	}
	t.Skipf("Docker unavailable (%s): the image is not built", why)
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// repoRoot is the module's root, where the Makefile is.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "Makefile")); err != nil {
		t.Fatalf("no Makefile at the module's root: %v", err)
	}
	return root
}

// TestImageRunsExampleScenario builds the scenarios' image with `make
// image`, runs the example scenario in it against its in-process stand-in
// (a container has no Docker engine to start the container stand-in
// with), and checks the exit status, the log and the result files written
// to a mounted folder by the image's unprivileged user.
func TestImageRunsExampleScenario(t *testing.T) {
	requireDocker(t)
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make command: make image cannot run")
	}
	var b [6]byte
	rand.Read(b[:])
	image := "steadyload-scenarios:test-" + hex.EncodeToString(b[:])
	// A random tag, removed whatever happens, so parallel runs and
	// leftovers never meet.
	t.Cleanup(func() {
		if out, err := exec.Command("docker", "rmi", "-f", image).CombinedOutput(); err != nil {
			t.Logf("docker rmi %s: %v\n%s", image, err, out)
		}
	})
	build := exec.CommandContext(t.Context(), "make", "-C", repoRoot(t), "--no-print-directory", "image", "IMAGE="+image)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("make image IMAGE=%s: %v\n%s", image, err, out)
	}

	inspect, err := exec.Command("docker", "image", "inspect", "-f", "{{.Config.User}}|{{json .Config.Entrypoint}}", image).Output()
	if err != nil {
		t.Fatalf("docker image inspect %s: %v", image, err)
	}
	user, entrypoint, _ := strings.Cut(strings.TrimSpace(string(inspect)), "|")
	if user != "65532:65532" {
		t.Errorf("image user = %q; want 65532:65532 (not root)", user)
	}
	for _, want := range []string{`"/steadyload-scenarios"`, `"-test.v"`, `"-test.timeout=0"`} {
		if !strings.Contains(entrypoint, want) {
			t.Errorf("image entrypoint = %s; want it to hold %s", entrypoint, want)
		}
	}

	results := t.TempDir()
	// The image's user writes the results: a folder it owns where this
	// process may give it away, else one anybody may write.
	if err := os.Chown(results, 65532, 65532); err != nil {
		if err := os.Chmod(results, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	run := exec.CommandContext(ctx, "docker", "run", "--rm", "--read-only", "--cap-drop=ALL",
		"-v", results+":/results", image,
		"-loadtest.duration=3s", "-loadtest.window=1s", "-loadtest.out=/results")
	var out bytes.Buffer
	run.Stdout, run.Stderr = &out, &out
	if err := run.Run(); err != nil {
		t.Fatalf("docker run %s: %v\n%s", image, err, out.String())
	}
	log := out.String()
	for _, want := range []string{
		"--- PASS: TestOrdersSteadyRate",
		"(stand-in local)",
		"results written to /results/TestOrdersSteadyRate_stats.csv",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("docker run log lacks %q:\n%s", want, log)
		}
	}

	meta, err := os.ReadFile(filepath.Join(results, "TestOrdersSteadyRate_meta.csv"))
	if err != nil {
		t.Fatalf("the run wrote no meta file: %v\n%s", err, log)
	}
	for _, want := range []string{"stand_in,local", "status,complete"} {
		if !hasLine(string(meta), want) {
			t.Errorf("TestOrdersSteadyRate_meta.csv lacks the line %q:\n%s", want, meta)
		}
	}
	stats, err := os.ReadFile(filepath.Join(results, "TestOrdersSteadyRate_stats.csv"))
	if err != nil {
		t.Fatalf("the run wrote no stats file: %v", err)
	}
	// Locust's columns: Type,Name,Request Count,...; the three tasks ran.
	for _, task := range []string{"POST,/orders,", "GET,/orders/{id},", "GET,/users/{id},"} {
		if !strings.Contains("\n"+string(stats), "\n"+task) {
			t.Errorf("TestOrdersSteadyRate_stats.csv has no row starting %q:\n%s", task, stats)
		}
	}
}

func hasLine(s, line string) bool {
	for l := range strings.SplitSeq(s, "\n") {
		if strings.TrimRight(l, "\r") == line {
			return true
		}
	}
	return false
}
