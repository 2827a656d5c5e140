// Package faultserver is an HTTP/1.1 server on loopback that misbehaves on
// demand — errors, hangs, resets, garbage, truncated or slow bodies, a TLS
// certificate nobody trusts, sudden death — so the harness can be tested
// against every way a target fails. It speaks HTTP on raw connections,
// which lets it break the protocol as a real broken server would, and it
// counts what it saw: requests per fault and open connections.
//
//	srv, err := faultserver.Start(faultserver.Config{})
//	defer srv.Close()
//	srv.Set(faultserver.Status500) // from now on, every request fails
package faultserver

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// A Fault is how the server answers a request.
type Fault int

// The faults. Each request is answered with the fault set when it arrived.
const (
	None        Fault = iota // 200 OK with a small body, after the latency
	Status500                // 500 Internal Server Error, after the latency
	Throttle                 // 429 Too Many Requests with Config.RetryAfter
	Unavailable              // 503 Service Unavailable with Config.RetryAfter
	Hang                     // read the request, never answer
	Reset                    // read the request, reset the connection (TCP RST)
	Close                    // read the request, close the connection (EOF)
	Garbage                  // answer bytes that are not HTTP
	Truncated                // promise a 100-byte body, send 10, close
	SlowBody                 // the headers at once, the body a byte at a time over Config.SlowBody
	numFaults
)

var faultNames = [...]string{"none", "500", "429", "503", "hang", "reset", "close", "garbage", "truncated", "slow-body"}

func (f Fault) String() string {
	if f < 0 || f >= numFaults {
		return "fault(" + strconv.Itoa(int(f)) + ")"
	}
	return faultNames[f]
}

// ParseFault returns the fault named as by String.
func ParseFault(s string) (Fault, error) {
	for i, n := range faultNames {
		if n == s {
			return Fault(i), nil
		}
	}
	return 0, fmt.Errorf("unknown fault %q", s)
}

// Config sets the server up. Its zero value serves plain HTTP at once.
type Config struct {
	TLS        bool          // serve HTTPS with a fresh self-signed certificate no client trusts
	Latency    time.Duration // delay before answering None and the status faults
	RetryAfter string        // Retry-After value of Throttle and Unavailable answers; empty: none
	SlowBody   time.Duration // how long a SlowBody answer takes to send its 10 bytes (default 1s)
	Fault      Fault         // the fault at start
}

// Server is a running fault server. Its methods are safe for concurrent use.
type Server struct {
	cfg Config
	ln  net.Listener
	url string
	tls *tls.Config

	mu      sync.Mutex
	fault   Fault
	latency time.Duration
	counts  [numFaults]int64
	conns   map[net.Conn]struct{}
	dead    bool

	total atomic.Int64
	done  chan struct{}
	wg    sync.WaitGroup
}

// Start listens on a free loopback port and serves until Close or Kill.
func Start(cfg Config) (*Server, error) {
	if cfg.SlowBody <= 0 {
		cfg.SlowBody = time.Second
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultserver: %w", err)
	}
	s := &Server{cfg: cfg, ln: ln, fault: cfg.Fault, latency: cfg.Latency, conns: map[net.Conn]struct{}{}, done: make(chan struct{})}
	scheme := "http"
	if cfg.TLS {
		cert, err := selfSigned()
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("faultserver: %w", err)
		}
		s.tls = &tls.Config{Certificates: []tls.Certificate{cert}}
		scheme = "https"
	}
	s.url = scheme + "://" + ln.Addr().String()
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// ClosedURL returns an http URL on loopback where nothing listens: every
// connection is refused.
func ClosedURL() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("faultserver: %w", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr, nil
}

// URL is the server's base URL, http://127.0.0.1:port (https with TLS).
func (s *Server) URL() string { return s.url }

// Set makes every request from now on meet fault f.
func (s *Server) Set(f Fault) {
	s.mu.Lock()
	s.fault = f
	s.mu.Unlock()
}

// SetLatency changes the delay before answering None and status faults.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	s.latency = d
	s.mu.Unlock()
}

// Requests is how many requests the server has read, whatever it did
// with them.
func (s *Server) Requests() int64 { return s.total.Load() }

// Count is how many requests met fault f.
func (s *Server) Count(f Fault) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f < 0 || f >= numFaults {
		return 0
	}
	return s.counts[f]
}

// OpenConns is how many client connections are open now.
func (s *Server) OpenConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Kill makes the server die at once, as a crashed process does: it stops
// listening (new connections are refused) and drops every open
// connection mid-request.
func (s *Server) Kill() {
	s.mu.Lock()
	if s.dead {
		s.mu.Unlock()
		return
	}
	s.dead = true
	close(s.done)
	s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
}

// Close kills the server and waits for its goroutines to end.
func (s *Server) Close() error {
	s.Kill()
	s.wg.Wait()
	return nil
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.dead {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go s.serve(c)
	}
}

// next counts a request and returns how to answer it.
func (s *Server) next() (Fault, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts[s.fault]++
	s.total.Add(1)
	return s.fault, s.latency
}

func (s *Server) serve(raw net.Conn) {
	defer s.wg.Done()
	defer func() {
		raw.Close()
		s.mu.Lock()
		delete(s.conns, raw)
		s.mu.Unlock()
	}()
	c := raw
	if s.tls != nil {
		c = tls.Server(raw, s.tls)
	}
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
		f, lat := s.next()
		if !s.answer(raw, c, br, f, lat) {
			return
		}
	}
}

// answer answers one request with fault f; false means the connection is
// done.
func (s *Server) answer(raw, c net.Conn, br *bufio.Reader, f Fault, lat time.Duration) bool {
	switch f {
	case None, Status500, Throttle, Unavailable:
		if !s.sleep(lat) {
			return false
		}
		code, body := http.StatusOK, "{\"ok\":true}\n"
		h := "Content-Type: application/json\r\n"
		switch f {
		case Status500:
			code, body, h = http.StatusInternalServerError, "internal error\n", "Content-Type: text/plain\r\n"
		case Throttle, Unavailable:
			code, body, h = http.StatusTooManyRequests, "slow down\n", "Content-Type: text/plain\r\n"
			if f == Unavailable {
				code, body = http.StatusServiceUnavailable, "unavailable\n"
			}
			if s.cfg.RetryAfter != "" {
				h += "Retry-After: " + s.cfg.RetryAfter + "\r\n"
			}
		}
		_, err := fmt.Fprintf(c, "HTTP/1.1 %d %s\r\n%sContent-Length: %d\r\n\r\n%s", code, http.StatusText(code), h, len(body), body)
		return err == nil
	case Hang:
		// Wait for the client to give up (EOF) or the server to die.
		br.Peek(1)
		return false
	case Reset:
		if tc, ok := raw.(*net.TCPConn); ok {
			tc.SetLinger(0) // close sends RST, not FIN
		}
		return false
	case Close:
		return false
	case Garbage:
		io.WriteString(c, "SSH-2.0-not-http \x00\x01\x02\r\nthis is not an HTTP response\r\n\r\n")
		return false
	case Truncated:
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n0123456789")
		return false
	case SlowBody:
		const body = "0123456789"
		if _, err := fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n", len(body)); err != nil {
			return false
		}
		step := s.cfg.SlowBody / time.Duration(len(body))
		for i := range len(body) {
			if !s.sleep(step) {
				return false
			}
			if _, err := io.WriteString(c, body[i:i+1]); err != nil {
				return false
			}
		}
		return true
	}
	return false
}

// sleep waits d unless the server dies first.
func (s *Server) sleep(d time.Duration) bool {
	if d <= 0 {
		return true
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-s.done:
		return false
	}
}

// selfSigned makes a certificate for 127.0.0.1 signed by itself.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{Organization: []string{"faultserver"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	if _, err := x509.ParseCertificate(der); err != nil {
		return tls.Certificate{}, errors.New("self-signed certificate: " + err.Error())
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
