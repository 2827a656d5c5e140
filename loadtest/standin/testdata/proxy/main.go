// Command proxy forwards every request to $UPSTREAM: the front of a
// two-container stand-in in the package's tests, reaching its backend by
// name on the stand-in's own network.
package main

import (
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"time"
)

func main() {
	up, err := url.Parse(os.Getenv("UPSTREAM"))
	if err != nil || up.Host == "" {
		log.Fatalf("proxy: UPSTREAM=%q: want a base URL", os.Getenv("UPSTREAM"))
	}
	rp := httputil.NewSingleHostReverseProxy(up)
	rp.ModifyResponse = func(r *http.Response) error {
		r.Header.Set("X-Proxied-By", "proxy")
		return nil
	}
	srv := &http.Server{Addr: ":8080", Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	log.Printf("proxy: forwarding :8080 to %s", up)
	log.Fatal(srv.ListenAndServe())
}
