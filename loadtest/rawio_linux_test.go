package loadtest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// TestRawConnMatchesNetConn runs each situation over a plain net.Conn and
// over rawConn, and wants the same data and the same error, word for word
// but for the addresses.
func TestRawConnMatchesNetConn(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB: more than the socket buffers hold
	for _, tc := range []struct {
		name string
		// run does something with conn (the side under test) and peer and
		// returns what it read and the error met.
		run func(conn io.ReadWriter, nc, peer *net.TCPConn) ([]byte, error)
	}{
		{"read what the peer wrote", func(conn io.ReadWriter, _, peer *net.TCPConn) ([]byte, error) {
			peer.Write([]byte("hello"))
			b := make([]byte, 16)
			n, err := conn.Read(b)
			return b[:n], err
		}},
		{"write more than the buffers hold", func(conn io.ReadWriter, nc, peer *net.TCPConn) ([]byte, error) {
			// Small buffers and a late reader: the write meets EAGAIN
			// and waits for room.
			nc.SetWriteBuffer(64 << 10)
			peer.SetReadBuffer(64 << 10)
			got := make(chan []byte)
			go func() {
				time.Sleep(20 * time.Millisecond)
				b, _ := io.ReadAll(io.LimitReader(peer, int64(len(big))))
				got <- b
			}()
			n, err := conn.Write(big)
			b := <-got
			if n != len(big) || !bytes.Equal(b, big) {
				return nil, errors.New("short")
			}
			return []byte("all"), err
		}},
		{"read after the peer closed", func(conn io.ReadWriter, _, peer *net.TCPConn) ([]byte, error) {
			peer.Close()
			n, err := conn.Read(make([]byte, 16))
			return nil, nonzero(n, err)
		}},
		{"read past the deadline", func(conn io.ReadWriter, nc, _ *net.TCPConn) ([]byte, error) {
			nc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			n, err := conn.Read(make([]byte, 16))
			return nil, nonzero(n, err)
		}},
		{"read reset by the peer", func(conn io.ReadWriter, _, peer *net.TCPConn) ([]byte, error) {
			peer.SetLinger(0)
			peer.Close()
			n, err := conn.Read(make([]byte, 16))
			return nil, nonzero(n, err)
		}},
		{"write reset by the peer", func(conn io.ReadWriter, _, peer *net.TCPConn) ([]byte, error) {
			peer.SetLinger(0)
			peer.Close()
			time.Sleep(20 * time.Millisecond) // the reset arrives
			var err error
			for range 3 {
				if _, err = conn.Write([]byte("x")); err != nil {
					break
				}
			}
			return nil, err
		}},
		{"read on a closed connection", func(conn io.ReadWriter, nc, _ *net.TCPConn) ([]byte, error) {
			nc.Close()
			n, err := conn.Read(make([]byte, 16))
			return nil, nonzero(n, err)
		}},
		{"write on a closed connection", func(conn io.ReadWriter, nc, _ *net.TCPConn) ([]byte, error) {
			nc.Close()
			_, err := conn.Write([]byte("x"))
			return nil, err
		}},
		{"held request and its answer", func(conn io.ReadWriter, _, peer *net.TCPConn) ([]byte, error) {
			return heldExchange(conn, peer, []byte("GE"), []byte("T /"))
		}},
		{"held request longer than a rawConn holds", func(conn io.ReadWriter, _, peer *net.TCPConn) ([]byte, error) {
			return heldExchange(conn, peer, bytes.Repeat([]byte("a"), maxHeld), []byte("b"))
		}},
		{"held request behind a full socket buffer", func(conn io.ReadWriter, nc, peer *net.TCPConn) ([]byte, error) {
			// The held request's write meets EAGAIN and waits for room.
			nc.SetWriteBuffer(64 << 10)
			peer.SetReadBuffer(64 << 10)
			nc.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
			n, err := conn.Write(big)
			if err == nil || n == 0 {
				return nil, fmt.Errorf("filling the buffers: wrote %d, %v", n, err)
			}
			nc.SetWriteDeadline(time.Time{})
			got := make(chan []byte)
			go func() {
				time.Sleep(20 * time.Millisecond)
				b, _ := io.ReadAll(io.LimitReader(peer, int64(n+3)))
				peer.Write([]byte("answer"))
				got <- b
			}()
			holdWrites(conn)
			conn.Write([]byte("GET"))
			b := make([]byte, 16)
			m, err := conn.Read(b)
			if sent := <-got; !bytes.Equal(sent, append(big[:n:n], "GET"...)) {
				return nil, fmt.Errorf("the peer got %d bytes, not the %d sent", len(sent), n+3)
			}
			return b[:m], err
		}},
		{"held request, the answer past the deadline", func(conn io.ReadWriter, nc, peer *net.TCPConn) ([]byte, error) {
			nc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			err := heldGet(conn)
			b := make([]byte, 3)
			if _, err := io.ReadFull(peer, b); err != nil || string(b) != "GET" {
				return nil, fmt.Errorf("the peer got %q, %v", b, err)
			}
			return nil, err
		}},
		{"held request past the deadline", func(conn io.ReadWriter, nc, _ *net.TCPConn) ([]byte, error) {
			nc.SetDeadline(time.Now().Add(-time.Second))
			return nil, heldGet(conn)
		}},
		{"held request to a peer that closes", func(conn io.ReadWriter, _, peer *net.TCPConn) ([]byte, error) {
			go func() {
				io.ReadFull(peer, make([]byte, 3))
				peer.Close()
			}()
			return nil, heldGet(conn)
		}},
		{"held request reset by the peer that read it", func(conn io.ReadWriter, _, peer *net.TCPConn) ([]byte, error) {
			go func() {
				io.ReadFull(peer, make([]byte, 3))
				peer.SetLinger(0)
				peer.Close()
			}()
			return nil, heldGet(conn)
		}},
		{"held request to a reset peer", func(conn io.ReadWriter, _, peer *net.TCPConn) ([]byte, error) {
			peer.SetLinger(0)
			peer.Close()
			time.Sleep(20 * time.Millisecond) // the reset arrives
			return nil, heldGet(conn)
		}},
		{"held request on a closed connection", func(conn io.ReadWriter, nc, _ *net.TCPConn) ([]byte, error) {
			nc.Close()
			return nil, heldGet(conn)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c1, p1 := tcpPair(t)
			wantData, wantErr := tc.run(c1, c1, p1)
			c2, p2 := tcpPair(t)
			raw := newConnIO(c2)
			if _, ok := raw.(*rawConn); !ok {
				t.Fatalf("newConnIO gave %T for a TCP connection; want *rawConn", raw)
			}
			gotData, gotErr := tc.run(raw, c2, p2)
			if !bytes.Equal(gotData, wantData) {
				t.Errorf("read %q; net.Conn read %q", gotData, wantData)
			}
			if got, want := errText(gotErr, c2, p2), errText(wantErr, c1, p1); got != want {
				t.Errorf("error %q;\nnet.Conn's %q", got, want)
			}
			if Classify(gotErr) != Classify(wantErr) {
				t.Errorf("error classified %q; net.Conn's %q", Classify(gotErr), Classify(wantErr))
			}
			for _, target := range []error{io.EOF, syscall.ECONNRESET, syscall.EPIPE, net.ErrClosed} {
				if errors.Is(gotErr, target) != errors.Is(wantErr, target) {
					t.Errorf("errors.Is(%v, %v) differs from net.Conn's", gotErr, target)
				}
			}
		})
	}
}

// heldGet holds a request, "GET", and reads its answer, which should not
// come: the error met, or one saying that data came.
func heldGet(conn io.ReadWriter) error {
	holdWrites(conn)
	if _, err := conn.Write([]byte("GET")); err != nil {
		return err
	}
	n, err := conn.Read(make([]byte, 16))
	return nonzero(n, err)
}

// heldExchange holds a request written in two parts, reads the answer
// the peer sends once it has the whole request, and checks that the peer
// got it.
func heldExchange(conn io.ReadWriter, peer *net.TCPConn, part1, part2 []byte) ([]byte, error) {
	want := append(append([]byte{}, part1...), part2...)
	got := make(chan []byte)
	go func() {
		b := make([]byte, len(want))
		io.ReadFull(peer, b)
		peer.Write([]byte("answer"))
		got <- b
	}()
	holdWrites(conn)
	for _, p := range [][]byte{part1, part2} {
		if _, err := conn.Write(p); err != nil {
			return nil, err
		}
	}
	b := make([]byte, 16)
	n, err := conn.Read(b)
	if sent := <-got; !bytes.Equal(sent, want) {
		return nil, fmt.Errorf("the peer got %q, not the request", sent)
	}
	return b[:n], err
}

// TestRawConnHoldsUntilRead checks that a held request stays until the
// read that waits for its answer, which then sends it and reads once.
func TestRawConnHoldsUntilRead(t *testing.T) {
	c, peer := tcpPair(t)
	conn := newConnIO(c)
	holdWrites(conn)
	if _, err := conn.Write([]byte("GET")); err != nil {
		t.Fatal(err)
	}
	peer.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if n, err := peer.Read(make([]byte, 3)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the peer read %d bytes (%v) before the held request's read", n, err)
	}
	peer.SetReadDeadline(time.Time{})
	go func() {
		io.ReadFull(peer, make([]byte, 3))
		peer.Write([]byte("answer"))
	}()
	b := make([]byte, 16)
	n, err := conn.Read(b)
	if err != nil || string(b[:n]) != "answer" {
		t.Fatalf("read %q, %v; want the answer", b[:n], err)
	}
	// The hold lasts for one request: the next write goes out at once.
	if _, err := conn.Write([]byte("next")); err != nil {
		t.Fatal(err)
	}
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(peer, b[:4]); err != nil || string(b[:4]) != "next" {
		t.Fatalf("the peer read %q, %v; want the unheld write", b[:4], err)
	}
}

// nonzero is err, or an error if a read that should have failed read n bytes.
func nonzero(n int, err error) error {
	if n != 0 {
		return errors.New("read data")
	}
	return err
}

// errText is err's text with the connection's addresses taken out.
func errText(err error, c, p net.Conn) string {
	if err == nil {
		return ""
	}
	return strings.NewReplacer(c.LocalAddr().String(), "LOCAL", c.RemoteAddr().String(), "REMOTE").Replace(err.Error())
}
