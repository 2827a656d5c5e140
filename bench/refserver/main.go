// Command refserver is the reference target of the performance comparison
// (bench/compare.sh): it answers every request with a fixed body after a
// fixed delay and counts them; GET /__count returns the count. Pin it to
// one core (taskset -c 0 refserver) so the generator has the other.
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/steadyload/steadyload/bench/internal/ref"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8099", "listen `address` (loopback only)")
	delay := flag.Duration("delay", 0, "fixed delay before each answer")
	size := flag.Int("body", ref.DefaultBodySize, "response body `bytes`")
	timer := flag.String("timer", "precise", "how the delay is waited: `precise` (a timerfd, on Linux) or go (time.Sleep, which can end up to 1 ms late)")
	procs := flag.Int("procs", 1, "GOMAXPROCS (the server is meant to own one core)")
	flag.Parse()
	runtime.GOMAXPROCS(*procs)
	if *timer != "precise" && *timer != "go" {
		log.Fatalf("refserver: -timer %q: want precise or go", *timer)
	}

	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		log.Fatalf("refserver: -addr %q: %v", *addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		log.Fatalf("refserver: -addr %q: listen on a loopback address only (127.0.0.1 or ::1)", *addr)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("refserver: %v", err)
	}
	srv := &http.Server{Handler: ref.New(ref.Config{Delay: *delay, BodySize: *size, GoTimer: *timer == "go"}), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	log.Printf("refserver: listening on %s (delay %s with the %s timer, body %d bytes)", ln.Addr(), *delay, *timer, *size)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("refserver: %v", err)
	}
}
