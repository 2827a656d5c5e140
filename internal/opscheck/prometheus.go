package opscheck

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RequireEnv names the environment variable that, set to 1, makes
// missing Prometheus binaries fail the test instead of skipping it: CI
// sets it where it has installed them.
const RequireEnv = "STEADYLOAD_REQUIRE_PROMETHEUS"

// Job is the job name Start scrapes its targets as, the one the rules'
// SteadyloadDown expects.
const Job = "steadyload"

// Tools are the paths of the prometheus and promtool binaries.
type Tools struct {
	Prometheus, Promtool string
}

// FindTools returns Debian's prometheus and promtool, installing the
// prometheus package with apt-get (as root, or through sudo -n) when
// they are missing, with a policy-rc.d that keeps the package's service
// from starting. When they cannot be had it skips tb, saying why, or
// fails it when RequireEnv is set to 1.
func FindTools(tb testing.TB) Tools {
	tb.Helper()
	t, err := lookTools()
	if err != nil {
		if ierr := install(tb); ierr != nil {
			err = fmt.Errorf("%w; installing Debian's prometheus: %w", err, ierr)
		} else {
			t, err = lookTools()
		}
	}
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			tb.Fatalf("opscheck: %v; %s=1 requires them", err, RequireEnv)
		}
		tb.Skipf("opscheck: %v (set %s=1 to fail instead)", err, RequireEnv)
	}
	return t
}

func lookTools() (Tools, error) {
	var t Tools
	var missing []string
	for _, b := range []struct {
		name string
		path *string
	}{{"prometheus", &t.Prometheus}, {"promtool", &t.Promtool}} {
		p, err := exec.LookPath(b.name)
		if err != nil {
			p = filepath.Join("/usr/bin", b.name)
			if _, serr := os.Stat(p); serr != nil {
				missing = append(missing, b.name)
				continue
			}
		}
		*b.path = p
	}
	if len(missing) > 0 {
		return Tools{}, fmt.Errorf("%s not installed", strings.Join(missing, " and "))
	}
	return t, nil
}

// installScript installs the prometheus package without starting its
// service, updating the package lists only when the first attempt fails;
// a policy-rc.d already in place is left as it is.
const installScript = `set -e
made=
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod +x /usr/sbin/policy-rc.d
	made=1
fi
trap '[ -z "$made" ] || rm -f /usr/sbin/policy-rc.d' EXIT
export DEBIAN_FRONTEND=noninteractive
lock='-o DPkg::Lock::Timeout=300'
apt-get install -y -qq $lock prometheus || { apt-get update -qq $lock && apt-get install -y -qq $lock prometheus; }
`

func install(tb testing.TB) error {
	if _, err := exec.LookPath("apt-get"); err != nil {
		return errors.New("no apt-get")
	}
	args := []string{"sh", "-c", installScript}
	if os.Geteuid() != 0 {
		if exec.Command("sudo", "-n", "true").Run() != nil {
			return errors.New("not root and no password-less sudo")
		}
		args = append([]string{"sudo", "-n"}, args...)
	}
	tb.Logf("opscheck: installing Debian's prometheus with apt-get")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w: %s", err, lastLines(out, 5))
	}
	return nil
}

// RunPromtool runs promtool with args in dir and returns its output,
// standard output and error together.
func (t Tools) RunPromtool(dir string, args ...string) (string, error) {
	cmd := exec.Command(t.Promtool, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("promtool %s: %w", strings.Join(args, " "), err)
	}
	return string(out), nil
}

// KeepsClassicHistograms reports whether this Prometheus can ingest a
// histogram's classic buckets beside its native ones
// (scrape_classic_histograms, Prometheus 2.45 and later). Without it, a
// Prometheus scraping native histograms drops the classic buckets of
// every histogram that has native ones.
func (t Tools) KeepsClassicHistograms() bool {
	dir, err := os.MkdirTemp("", "opscheck")
	if err != nil {
		return false
	}
	defer os.RemoveAll(dir)
	cfg := filepath.Join(dir, "prometheus.yml")
	body := "scrape_configs:\n  - job_name: x\n    scrape_classic_histograms: true\n    static_configs: [{targets: ['127.0.0.1:1']}]\n"
	if os.WriteFile(cfg, []byte(body), 0o644) != nil {
		return false
	}
	_, err = t.RunPromtool(dir, "check", "config", cfg)
	return err == nil
}

// Config is what a Prometheus started by Start scrapes and evaluates.
type Config struct {
	// Targets are the host:port addresses scraped at /metrics as job
	// Job.
	Targets []string
	// RuleFiles are the rule files loaded, absolute paths.
	RuleFiles []string
	// NativeHistograms turns native histograms on
	// (--enable-feature=native-histograms); with KeepClassic, classic
	// buckets are kept beside them (see Tools.KeepsClassicHistograms).
	NativeHistograms, KeepClassic bool
	// Interval is the scrape and rule evaluation interval; 1s when 0.
	Interval time.Duration
}

// A Server is a running Prometheus.
type Server struct {
	URL string // http://127.0.0.1:port

	cmd    *exec.Cmd
	out    *syncBuffer
	done   chan struct{}
	client *http.Client
}

// Start runs Prometheus as a child of the test with cfg, on a free
// loopback port, with its configuration and data in a temporary
// directory, and returns once it is ready. It is stopped when the test
// ends; a failed test gets its log.
func Start(tb testing.TB, t Tools, cfg Config) *Server {
	tb.Helper()
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	dir := tb.TempDir()
	conf := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(conf, []byte(configFile(cfg)), 0o644); err != nil {
		tb.Fatalf("opscheck: write configuration: %v", err)
	}
	port, err := freePort()
	if err != nil {
		tb.Fatalf("opscheck: %v", err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	args := []string{
		"--config.file=" + conf,
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + addr,
		"--log.level=warn",
	}
	if cfg.NativeHistograms {
		args = append(args, "--enable-feature=native-histograms")
	}
	s := &Server{
		URL:    "http://" + addr,
		out:    &syncBuffer{},
		done:   make(chan struct{}),
		client: &http.Client{Timeout: 10 * time.Second},
	}
	s.cmd = exec.Command(t.Prometheus, args...)
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		tb.Fatalf("opscheck: start prometheus: %v", err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	tb.Cleanup(func() {
		s.stop()
		if tb.Failed() {
			tb.Logf("opscheck: prometheus %s log:\n%s", s.URL, s.out.String())
		}
	})
	if err := s.waitReady(30 * time.Second); err != nil {
		tb.Fatalf("opscheck: prometheus %s: %v\n%s", s.URL, err, s.out.String())
	}
	return s
}

func configFile(cfg Config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  scrape_interval: %s\n  scrape_timeout: %s\n  evaluation_interval: %s\n",
		cfg.Interval, cfg.Interval, cfg.Interval)
	if len(cfg.RuleFiles) > 0 {
		b.WriteString("rule_files:\n")
		for _, f := range cfg.RuleFiles {
			fmt.Fprintf(&b, "  - %q\n", f)
		}
	}
	fmt.Fprintf(&b, "scrape_configs:\n  - job_name: %s\n", Job)
	if cfg.NativeHistograms && cfg.KeepClassic {
		b.WriteString("    scrape_classic_histograms: true\n")
	}
	b.WriteString("    static_configs:\n      - targets:\n")
	for _, t := range cfg.Targets {
		fmt.Fprintf(&b, "          - %q\n", t)
	}
	return b.String()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		select {
		case <-s.done:
			return fmt.Errorf("exited: %v", s.cmd.ProcessState)
		default:
		}
		resp, err := s.client.Get(s.URL + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready within %s (last: %v)", limit, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *Server) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// Query evaluates expr now and returns how many series (or, for a
// scalar or string, values) the result holds. A PromQL error is an
// error, with Prometheus's message.
func (s *Server) Query(ctx context.Context, expr string) (int, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := s.get(ctx, "/api/v1/query", url.Values{"query": {expr}}, &data); err != nil {
		return 0, err
	}
	switch data.ResultType {
	case "vector", "matrix":
		var series []json.RawMessage
		if err := json.Unmarshal(data.Result, &series); err != nil {
			return 0, fmt.Errorf("query: %s result: %w", data.ResultType, err)
		}
		return len(series), nil
	case "scalar", "string":
		return 1, nil
	}
	return 0, fmt.Errorf("query: unknown result type %q", data.ResultType)
}

// A RuleHealth is the state of one loaded rule after its last evaluation.
type RuleHealth struct {
	Name, Health, LastError string
}

// Rules returns the health of every loaded rule: "ok" once it has been
// evaluated without error, "err" with LastError, "unknown" before.
func (s *Server) Rules(ctx context.Context) ([]RuleHealth, error) {
	var data struct {
		Groups []struct {
			Rules []RuleHealth `json:"rules"`
		} `json:"groups"`
	}
	if err := s.get(ctx, "/api/v1/rules", nil, &data); err != nil {
		return nil, err
	}
	var rs []RuleHealth
	for _, g := range data.Groups {
		rs = append(rs, g.Rules...)
	}
	return rs, nil
}

// get calls the HTTP API and decodes the data of its answer into v.
func (s *Server) get(ctx context.Context, path string, q url.Values, v any) error {
	u := s.URL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
		Error  string          `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return fmt.Errorf("%s: HTTP %d: %w", path, resp.StatusCode, err)
	}
	if body.Status != "success" {
		return fmt.Errorf("%s: %s", path, body.Error)
	}
	if err := json.Unmarshal(body.Data, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// syncBuffer is the process's output, written by exec's copying
// goroutines and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
