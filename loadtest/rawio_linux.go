package loadtest

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// rawConn reads and writes a TCP connection with raw system calls, waiting
// in the runtime's poller as net.Conn does. An ordinary read or write
// enters the runtime's syscall state, and the first one after the process
// was idle wakes the runtime's monitor thread (sysmon), which then polls at
// 20 µs for a while. At a paced rate the process is idle between every two
// requests, so that happens on every request: measured, it was a quarter
// of the generator's CPU at 1000 req/s. The socket is non-blocking, so a
// raw call cannot stall its thread. Anything but data or EAGAIN (a
// deadline, a closed connection) is left to the net.Conn, which reports it
// in its own words.
//
// A request and its answer cost one system call less when the request is
// held (hold) and sent by the read that waits for the answer: that read
// then waits first and reads once, where an ordinary read of a socket the
// answer has not reached yet fails with EAGAIN before it waits. Waiting
// before any read is safe only because the poller's readiness is reset
// before the request goes out: no byte of the answer can come earlier.
//
// A rawConn is used by one goroutine at a time, as the transport's
// connections are.
type rawConn struct {
	net.Conn
	rc syscall.RawConn

	// The call in progress, kept here so that the callbacks, made once,
	// allocate nothing per call.
	p                         []byte
	n                         int
	errno                     syscall.Errno
	readFn, writeFn, sendRead func(fd uintptr) bool

	// The held request: while holding, writes gather in held, up to its
	// capacity, and the next Read sends them; sent counts what went out.
	holding bool
	held    []byte
	sent    int
}

// maxHeld is how much of a request a rawConn holds; a longer one is
// written as it comes.
const maxHeld = 4 << 10

// holdWrites has the writes to rw until its next read held and sent by
// that read, when rw can (see rawConn).
func holdWrites(rw io.ReadWriter) {
	if c, ok := rw.(*rawConn); ok {
		c.holding = true
	}
}

// newConnIO returns how the transport reads and writes nc.
func newConnIO(nc net.Conn) io.ReadWriter {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nc
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nc
	}
	c := &rawConn{Conn: nc, rc: rc}
	c.readFn, c.writeFn, c.sendRead = c.read, c.write, c.sendThenRead
	return c
}

func (c *rawConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.holding = false
	if len(c.held) > 0 {
		return c.sendAndRead(p)
	}
	c.p, c.n, c.errno = p, 0, 0
	err := c.rc.Read(c.readFn)
	n, errno := c.n, c.errno
	c.p = nil
	switch {
	case err != nil:
		return c.Conn.Read(p) // deadline or closed: net says which
	case errno != 0:
		return 0, c.opError("read", errno)
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// read is Read's callback: false means wait until the socket is readable.
func (c *rawConn) read(fd uintptr) bool {
	for {
		r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&c.p[0])), uintptr(len(c.p)))
		if e == syscall.EINTR {
			continue // as net.Conn does
		}
		c.n, c.errno = int(r), e
		return e != syscall.EAGAIN
	}
}

// sendAndRead sends the held request and reads into p.
func (c *rawConn) sendAndRead(p []byte) (int, error) {
	c.p, c.n, c.errno, c.sent = p, 0, 0, 0
	err := c.rc.Read(c.sendRead)
	n, errno, rest := c.n, c.errno, c.held[c.sent:]
	c.p, c.held = nil, c.held[:0]
	switch {
	case err == nil && errno == 0 && len(rest) == 0:
		if n == 0 {
			return 0, io.EOF
		}
		return n, nil
	case err == nil && errno != 0 && len(rest) == 0:
		return 0, c.opError("read", errno)
	case err == nil && errno != syscall.EAGAIN:
		return 0, c.opError("write", errno)
	case err != nil:
		// Closed or past the deadline, before the request went out or
		// while waiting for the answer: net says which, in its words.
		if len(rest) > 0 {
			if _, err := c.Conn.Write(rest); err != nil {
				return 0, err
			}
		}
		return c.Conn.Read(p)
	}
	// The socket's buffer was full (EAGAIN): send the rest as Write does,
	// then read as Read does.
	if len(rest) > 0 {
		if _, err := c.Write(rest); err != nil {
			return 0, err
		}
	}
	return c.Read(p)
}

// sendThenRead is sendAndRead's callback: it sends what is held, then
// asks to wait (false) before its first read, and reads after the wait.
// A write error, EAGAIN included, ends the call with c.sent short.
func (c *rawConn) sendThenRead(fd uintptr) bool {
	if c.sent < len(c.held) {
		c.errno = writeFrom(fd, c.held, &c.sent)
		return c.errno != 0
	}
	return c.read(fd)
}

func (c *rawConn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if c.holding {
		if len(c.held)+len(p) <= maxHeld {
			if c.held == nil {
				c.held = make([]byte, 0, maxHeld)
			}
			c.held = append(c.held, p...)
			return len(p), nil
		}
		c.holding = false
		if len(c.held) > 0 {
			held := c.held
			c.held = c.held[:0]
			if _, err := c.Write(held); err != nil {
				return 0, err
			}
		}
	}
	c.p, c.n, c.errno = p, 0, 0
	err := c.rc.Write(c.writeFn)
	n, errno := c.n, c.errno
	c.p = nil
	switch {
	case err != nil:
		m, err := c.Conn.Write(p[n:])
		return n + m, err
	case errno != 0:
		return n, c.opError("write", errno)
	}
	return n, nil
}

// write is Write's callback: false means wait until the socket is writable.
func (c *rawConn) write(fd uintptr) bool {
	c.errno = writeFrom(fd, c.p, &c.n)
	return c.errno != syscall.EAGAIN
}

// writeFrom writes b[*n:] to fd, counting in *n what went out, until all
// of it has or an error (EAGAIN included) stops it.
func writeFrom(fd uintptr, b []byte, n *int) syscall.Errno {
	for *n < len(b) {
		r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&b[*n])), uintptr(len(b)-*n))
		if e == syscall.EINTR {
			continue // as net.Conn does
		}
		if e != 0 {
			return e
		}
		*n += int(r)
	}
	return 0
}

func (c *rawConn) opError(op string, errno syscall.Errno) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError(op, errno)}
}
