//go:build !linux

package loadtest

import (
	"io"
	"net"
)

// newConnIO returns how the transport reads and writes nc.
func newConnIO(nc net.Conn) io.ReadWriter { return nc }

// holdWrites does nothing here: writes go out as they come.
func holdWrites(io.ReadWriter) {}
