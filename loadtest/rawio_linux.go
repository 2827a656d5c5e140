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
// A rawConn is used by one goroutine at a time, as the transport's
// connections are.
type rawConn struct {
	net.Conn
	rc syscall.RawConn

	// The call in progress, kept here so that the callbacks, made once,
	// allocate nothing per call.
	p               []byte
	n               int
	errno           syscall.Errno
	readFn, writeFn func(fd uintptr) bool
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
	c.readFn, c.writeFn = c.read, c.write
	return c
}

func (c *rawConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
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

func (c *rawConn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
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
	c.errno = 0 // an EAGAIN met before the wait is over
	for c.n < len(c.p) {
		r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&c.p[c.n])), uintptr(len(c.p)-c.n))
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			c.errno = e
			return e != syscall.EAGAIN
		}
		c.n += int(r)
	}
	return true
}

func (c *rawConn) opError(op string, errno syscall.Errno) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError(op, errno)}
}
