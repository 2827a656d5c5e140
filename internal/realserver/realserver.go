// Package realserver runs Debian's Apache httpd, nginx and lighttpd on
// loopback, each in a temporary directory of its own with a configuration
// close to the one Debian ships, so that the harness can be tested against
// the keep-alive handling of the servers it will meet: idle connections
// closed after the keep-alive timeout, graceful restarts, connections
// closed after so many requests.
//
// Every server listens on 127.0.0.1 on a free port, runs in the
// foreground as a child of the test (as the current user, or as www-data
// when the test runs as root, since Apache will not serve as root), keeps
// its pid file, logs and documents in the test's temporary directory, and
// logs every request with its client port, its number on its connection,
// the harness's X-Loadtest-Run and traceparent headers and the request
// line (see Entry). It serves
//
//   - StaticPath, a small static file, and
//   - SlowPath, which answers GET and POST after SlowDelay: a CGI script
//     for Apache (mod_cgid) and lighttpd (mod_cgi), and for nginx a
//     proxy_pass to an upstream in the test process, so that the client's
//     side of the connection is still nginx's.
//
// The servers are stopped when the test ends, whatever happens:
//
//	srv := realserver.Start(t, realserver.Nginx, realserver.Config{KeepAliveTimeout: time.Second})
//	// ... load against srv.URL ...
//	entries, err := srv.Entries()
package realserver

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// RequireEnv names the environment variable that, set to 1, makes a
// missing server fail the test instead of skipping it: CI sets it where it
// has installed the servers.
const RequireEnv = "STEADYLOAD_REQUIRE_REALSERVERS"

// The servers Start knows, by the name of their binary in /usr/sbin.
const (
	Apache   = "apache2"
	Nginx    = "nginx"
	Lighttpd = "lighttpd"
)

// Names returns the servers Start knows, in a fixed order.
func Names() []string { return []string{Apache, Nginx, Lighttpd} }

// The paths every server serves.
const (
	StaticPath = "/static.txt"
	SlowPath   = "/slow"
)

// SlowDelay is how long SlowPath takes to answer.
const SlowDelay = 300 * time.Millisecond

// Config is how a server's configuration differs from the stock one; its
// zero value is the stock configuration.
type Config struct {
	// KeepAliveTimeout is how long the server keeps an idle keep-alive
	// connection open (Apache KeepAliveTimeout, nginx keepalive_timeout,
	// lighttpd server.max-keep-alive-idle, which counts whole seconds).
	// Zero leaves the stock value: see StockKeepAliveTimeout.
	KeepAliveTimeout time.Duration
	// MaxKeepAliveRequests is how many requests the server answers on a
	// connection before it closes it (Apache MaxKeepAliveRequests, nginx
	// keepalive_requests, lighttpd server.max-keep-alive-requests). Zero
	// leaves the stock value (100, 1000, 1000).
	MaxKeepAliveRequests int
	// ShutdownTimeout is, for nginx alone (worker_shutdown_timeout), how
	// long the old workers of a graceful restart may finish the requests
	// in progress before nginx closes their connections, answered or
	// not. Zero leaves the stock setting: no limit. Start fails the test
	// when it is set for another server.
	ShutdownTimeout time.Duration
}

// StockKeepAliveTimeout returns the keep-alive timeout of the named
// server's stock configuration on Debian: 5 s for Apache (apache2.conf)
// and lighttpd (its default), 75 s for nginx (its default: Debian's
// nginx.conf does not set one).
func StockKeepAliveTimeout(name string) time.Duration {
	if f, ok := flavors(name); ok {
		return f.stockKeepAlive
	}
	return 0
}

// IdleClose returns how long after its last answer the named server, run
// with cfg, has closed an idle keep-alive connection at the latest: the
// keep-alive timeout, and for lighttpd a second more (it looks for idle
// connections once a second, and closes one idle longer than the
// timeout in whole seconds).
func IdleClose(name string, cfg Config) time.Duration {
	f, ok := flavors(name)
	if !ok {
		return 0
	}
	d := cfg.KeepAliveTimeout
	if d <= 0 {
		d = f.stockKeepAlive
	}
	if name == Lighttpd {
		d = (d+time.Second-1)/time.Second*time.Second + time.Second
	}
	return d
}

// A Server is one running server.
type Server struct {
	Name string // Apache, Nginx or Lighttpd
	URL  string // base URL, http://127.0.0.1:port

	f        flavor
	dir      string
	cmd      *exec.Cmd
	done     chan struct{} // closed when the process has exited
	stopOnce sync.Once
	upstream *atomic.Int64 // requests nginx's upstream has received; nil without one
}

// UpstreamRequests returns how many requests have reached the server's
// upstream in the test process (nginx's SlowPath), 0 without one.
func (s *Server) UpstreamRequests() int64 {
	if s.upstream == nil {
		return 0
	}
	return s.upstream.Load()
}

// Start starts the named server with cfg and returns it once it answers.
// It registers the server's stop with tb.Cleanup first, so the process is
// killed at the end of the test whatever happens. A server that is not
// installed skips the test, or fails it when RequireEnv is set to 1; one
// that does not start fails it.
func Start(tb testing.TB, name string, cfg Config) *Server {
	tb.Helper()
	f, ok := flavors(name)
	if !ok {
		tb.Fatalf("realserver: unknown server %q", name)
		return nil
	}
	if cfg.KeepAliveTimeout < 0 || cfg.MaxKeepAliveRequests < 0 || cfg.ShutdownTimeout < 0 {
		tb.Fatalf("realserver: negative limit in %+v", cfg)
		return nil
	}
	if cfg.ShutdownTimeout > 0 && name != Nginx {
		tb.Fatalf("realserver: ShutdownTimeout is for nginx only, not %s", name)
		return nil
	}
	bin := filepath.Join("/usr/sbin", f.bin)
	missing := unsupported()
	if missing == nil {
		if _, err := os.Stat(bin); err != nil {
			missing = fmt.Errorf("%s not installed (%w): apt-get install %s", name, err, f.pkg)
		}
	}
	if missing != nil {
		if os.Getenv(RequireEnv) == "1" {
			tb.Fatalf("realserver: %v; %s=1 requires it", missing, RequireEnv)
			return nil
		}
		tb.Skipf("realserver: %v", missing)
		return nil
	}
	var upstream string
	var hits *atomic.Int64
	if f.upstream {
		hits = new(atomic.Int64)
		up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			slow(w, r)
		}))
		tb.Cleanup(up.Close)
		upstream = up.Listener.Addr().String()
	}
	var errs []string
	for attempt := 0; attempt < 3; attempt++ {
		s, err := start(tb, bin, f, cfg, upstream)
		if err == nil {
			s.upstream = hits
			return s
		}
		errs = append(errs, err.Error())
		if !errors.Is(err, errAddrInUse) {
			break
		}
	}
	tb.Fatalf("realserver: %s", strings.Join(errs, "\n"))
	return nil
}

var errAddrInUse = errors.New("address in use")

// start makes one attempt at starting a server on a free port.
func start(tb testing.TB, bin string, f flavor, cfg Config, upstream string) (*Server, error) {
	dir := tb.TempDir()
	s := &Server{Name: f.bin, f: f, dir: dir, done: make(chan struct{})}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s.URL = "http://127.0.0.1:" + strconv.Itoa(port)
	st := setup{dir: dir, port: port, cfg: cfg, upstream: upstream}
	if os.Geteuid() == 0 {
		if st.user, st.group, st.uid, st.gid, err = serviceUser(); err != nil {
			return nil, err
		}
		// The workers run as st.user: they must reach the documents.
		for _, d := range []string{filepath.Dir(dir), dir} {
			if err := os.Chmod(d, 0o755); err != nil {
				return nil, fmt.Errorf("open %s to the server's user: %w", d, err)
			}
		}
	}
	if err := st.files(); err != nil {
		return nil, err
	}
	args, env, err := f.write(&st)
	if err != nil {
		return nil, fmt.Errorf("write %s configuration: %w", f.bin, err)
	}
	if st.user != "" {
		// lighttpd opens its logs after it has become st.user.
		if err := chownAll(dir, st.uid, st.gid); err != nil {
			return nil, err
		}
	}
	out, err := os.Create(filepath.Join(dir, "output.log"))
	if err != nil {
		return nil, err
	}
	defer out.Close()
	s.cmd = exec.Command(bin, args...)
	s.cmd.Dir = dir
	s.cmd.Env = append(os.Environ(), env...)
	s.cmd.Stdout, s.cmd.Stderr = out, out
	s.cmd.SysProcAttr = procAttr()
	tb.Cleanup(s.Stop)
	if err := s.cmd.Start(); err != nil {
		close(s.done)
		return nil, fmt.Errorf("start %s: %w", f.bin, err)
	}
	go func() {
		s.cmd.Wait()
		close(s.done)
	}()
	if err := s.waitReady(10 * time.Second); err != nil {
		s.Stop()
		logs := s.logs()
		if strings.Contains(logs, "in use") {
			err = fmt.Errorf("%w: %w", errAddrInUse, err)
		}
		return nil, fmt.Errorf("%s did not start: %w\n%s", f.bin, err, logs)
	}
	return s, nil
}

// freePort returns a port of 127.0.0.1 that nothing listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// serviceUser returns the user and group the workers run as when the
// test runs as root: Debian's www-data, else nobody.
func serviceUser() (name, group string, uid, gid int, err error) {
	var u *user.User
	for _, n := range []string{"www-data", "nobody"} {
		if u, err = user.Lookup(n); err == nil {
			break
		}
	}
	if err != nil {
		return "", "", 0, 0, fmt.Errorf("look up a user for the server's workers: %w", err)
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		return "", "", 0, 0, fmt.Errorf("look up the group of %s: %w", u.Username, err)
	}
	uid, err = strconv.Atoi(u.Uid)
	if err == nil {
		gid, err = strconv.Atoi(u.Gid)
	}
	if err != nil {
		return "", "", 0, 0, fmt.Errorf("user %s: %w", u.Username, err)
	}
	return u.Username, g.Name, uid, gid, nil
}

// chownAll gives dir and everything in it to uid and gid.
func chownAll(dir string, uid, gid int) error {
	return filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(path, uid, gid); err != nil {
			return fmt.Errorf("give the server's files to its user: %w", err)
		}
		return nil
	})
}

// waitReady waits until the server answers StaticPath, the process exits
// or within passes.
func (s *Server) waitReady(within time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	tr := &http.Transport{DisableKeepAlives: true, Proxy: nil}
	defer tr.CloseIdleConnections()
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+StaticPath, nil)
		if err != nil {
			return err
		}
		resp, err := tr.RoundTrip(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET %s: %s", StaticPath, resp.Status)
		}
		last = err
		select {
		case <-s.done:
			return fmt.Errorf("exited: %v", s.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("no answer within %s: %w", within, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Restart restarts the server gracefully, as `apache2 -k graceful`,
// `nginx -s reload` and lighttpd's SIGUSR1 do (by sending the signal they
// send): requests in progress are finished, the configuration is read
// again, new connections are served by new workers.
func (s *Server) Restart() error {
	select {
	case <-s.done:
		return fmt.Errorf("restart %s: it has exited: %v\n%s", s.Name, s.cmd.ProcessState, s.logs())
	default:
	}
	if err := s.cmd.Process.Signal(s.f.restart); err != nil {
		return fmt.Errorf("restart %s: %w", s.Name, err)
	}
	return nil
}

// Stop stops the server: its own shutdown first, then, after 5 s, a kill
// of its process group. It waits for the process to exit and may be
// called more than once.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	s.stopOnce.Do(s.stop)
}

func (s *Server) stop() {
	select {
	case <-s.done:
	default:
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
		}
	}
	// Whatever the server left behind in its group (a CGI script, a
	// worker that outlived its parent) goes too.
	killGroup(s.cmd.Process.Pid)
	<-s.done
}

// logs returns the server's output and error log, for a failure message.
func (s *Server) logs() string {
	var b strings.Builder
	for _, name := range []string{"output.log", "error.log"} {
		data, err := os.ReadFile(filepath.Join(s.dir, name))
		if err != nil || len(bytes.TrimSpace(data)) == 0 {
			continue
		}
		if len(data) > 4<<10 {
			data = data[len(data)-4<<10:]
		}
		fmt.Fprintf(&b, "--- %s:\n%s", name, data)
	}
	return b.String()
}

// An Entry is one request in a server's access log.
type Entry struct {
	RemotePort string // the client's port: one per connection
	Status     int
	// ConnRequest is the request's number on its connection, from 1;
	// 0 where the server does not log it (lighttpd).
	ConnRequest int
	RunID       string // the X-Loadtest-Run header, "" when absent
	Traceparent string // the traceparent header, "" when absent
	Request     string // the request line, e.g. "GET /static.txt HTTP/1.1"
}

// TraceID returns the trace id of the entry's traceparent header, "" when
// it has none.
func (e Entry) TraceID() string {
	// version "-" trace-id "-" parent-id "-" flags
	parts := strings.Split(e.Traceparent, "-")
	if len(parts) != 4 || len(parts[1]) != 32 {
		return ""
	}
	return parts[1]
}

// logLag is how long Entries waits at least for requests answered just
// before to be logged (a server logs a request after it has sent the
// answer), and logSettle how long the log must then stay the same size.
const (
	logLag    = 300 * time.Millisecond
	logSettle = 300 * time.Millisecond
)

// OfRun returns the entries whose X-Loadtest-Run is runID, in order.
func OfRun(entries []Entry, runID string) []Entry {
	var out []Entry
	for _, e := range entries {
		if e.RunID == runID {
			out = append(out, e)
		}
	}
	return out
}

// Entries reads the requests in the server's access log, in the order
// they were logged. Call it once the requests of interest are answered:
// it waits for their log lines, until the log has not grown for a while.
func (s *Server) Entries() ([]Entry, error) {
	time.Sleep(logLag)
	path := filepath.Join(s.dir, "access.log")
	if s.f.flushLog != 0 {
		if err := s.flush(path); err != nil {
			return nil, err
		}
	}
	waitSettled(path)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read access log: %w", err)
	}
	var out []Entry
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		e, err := parseEntry(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		if s.f.countsFrom0 {
			e.ConnRequest++
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// flush has the server write out its buffered access log, by asking it
// to reopen its logs, and waits until the log stops growing.
func (s *Server) flush(path string) error {
	select {
	case <-s.done:
		return nil // it wrote everything on its way out
	default:
	}
	if err := s.cmd.Process.Signal(s.f.flushLog); err != nil {
		return fmt.Errorf("flush access log: %w", err)
	}
	return nil
}

// waitSettled waits until the file at path has kept its size for
// logSettle, or 5 s have passed.
func waitSettled(path string) {
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			return -1
		}
		return fi.Size()
	}
	last, since := size(), time.Now()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		if n := size(); n != last {
			last, since = n, time.Now()
		} else if time.Since(since) >= logSettle {
			return
		}
	}
}

// logFields is the number of space-separated fields before the request
// line in a log line: client port, status, request number on the
// connection, run id, traceparent.
const logFields = 5

func parseEntry(line string) (Entry, error) {
	f := strings.SplitN(line, " ", logFields+1)
	if len(f) != logFields+1 {
		return Entry{}, fmt.Errorf("%d fields; want %d: %q", len(f), logFields+1, line)
	}
	e := Entry{RemotePort: f[0], RunID: dash(f[3]), Traceparent: dash(f[4]), Request: f[5]}
	var err error
	if e.Status, err = strconv.Atoi(f[1]); err != nil {
		return Entry{}, fmt.Errorf("status %q: %w", f[1], err)
	}
	if f[2] != "-" {
		if e.ConnRequest, err = strconv.Atoi(f[2]); err != nil {
			return Entry{}, fmt.Errorf("request number %q: %w", f[2], err)
		}
	}
	return e, nil
}

func dash(s string) string {
	if s == "-" {
		return ""
	}
	return s
}

// slow is SlowPath in the test process: nginx's upstream.
func slow(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	time.Sleep(SlowDelay)
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, "slow\n")
}
