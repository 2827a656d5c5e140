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
type rawConn struct {
	net.Conn
	rc syscall.RawConn
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
	return &rawConn{Conn: nc, rc: rc}
}

func (c *rawConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var errno syscall.Errno
	err := c.rc.Read(func(fd uintptr) bool {
		r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		n, errno = int(r), e
		return e != syscall.EAGAIN
	})
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

func (c *rawConn) Write(p []byte) (int, error) {
	var n int
	var errno syscall.Errno
	err := c.rc.Write(func(fd uintptr) bool {
		for n < len(p) {
			r, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[n])), uintptr(len(p)-n))
			if e == syscall.EINTR {
				continue
			}
			if e != 0 {
				errno = e
				return e != syscall.EAGAIN
			}
			n += int(r)
		}
		return true
	})
	switch {
	case err != nil:
		m, err := c.Conn.Write(p[n:])
		return n + m, err
	case errno != 0:
		return n, c.opError("write", errno)
	}
	return n, nil
}

func (c *rawConn) opError(op string, errno syscall.Errno) error {
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: os.NewSyscallError(op, errno)}
}
