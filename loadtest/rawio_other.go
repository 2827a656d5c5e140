//go:build !linux

package loadtest

import (
	"io"
	"net"
)

// newConnIO returns how the transport reads and writes nc.
func newConnIO(nc net.Conn) io.ReadWriter { return nc }
