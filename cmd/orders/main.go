// Command orders runs the example orders service, the stand-in target of
// the example scenarios. Its knobs come from ORDERS_* environment variables
// (see package orders); it listens on -addr (default :8080).
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/steadyload/steadyload/internal/orders"
)

func main() {
	addr := flag.String("addr", ":8080", "listen `address`")
	flag.Parse()
	cfg, err := orders.ConfigFromEnv()
	if err != nil {
		log.Fatalf("orders: %v", err)
	}
	srv := &http.Server{Addr: *addr, Handler: orders.New(cfg).Handler(), ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	log.Printf("orders: listening on %s", *addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("orders: %v", err)
	}
}
