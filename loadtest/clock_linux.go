package loadtest

import (
	"context"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fdClock sleeps on a timerfd read through the network poller. Go's own
// timers wake the poller with a timeout in whole milliseconds on Linux, so
// a sleep of 4.3 ms takes two wake-ups of the process (after 4 ms, then
// 1 ms more) and ends up to a millisecond late; a timerfd wakes it once,
// within tens of microseconds of the time asked. Each wake-up of an idle
// process is a context switch, the largest part of the generator's CPU at
// a fixed rate. The timerfd is set and read with raw system calls, for the
// reason rawConn gives.
type fdClock struct {
	ctx      context.Context
	fd       int
	f        *os.File
	rc       syscall.RawConn
	spec     unix.ItimerSpec
	errno    syscall.Errno
	readFn   func(fd uintptr) bool
	fallback *goClock // after an unexpected error of the timerfd
	stop     func() bool
}

// newSchedClock returns the scheduler's clock for a run ending with ctx: a
// timerfd, or a time.Timer when one cannot be had.
func newSchedClock(ctx context.Context) schedClock {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return newGoClock(ctx)
	}
	f := os.NewFile(uintptr(fd), "timerfd") // non-blocking: in the poller
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return newGoClock(ctx)
	}
	c := &fdClock{ctx: ctx, fd: fd, f: f, rc: rc}
	c.readFn = c.read
	// A read deadline in the past ends the sleep in progress and every
	// later one: the context's end reaches the poller, not a timer.
	c.stop = context.AfterFunc(ctx, func() { c.f.SetReadDeadline(time.Unix(1, 0)) })
	return c
}

func (c *fdClock) sleep(d time.Duration) bool {
	if c.fallback != nil {
		return c.fallback.sleep(d)
	}
	if d <= 0 { // a zero timerfd is disarmed, not expired
		return c.ctx.Err() == nil
	}
	start := time.Now()
	c.spec.Value = unix.NsecToTimespec(d.Nanoseconds())
	_, _, errno := unix.RawSyscall6(unix.SYS_TIMERFD_SETTIME, uintptr(c.fd), 0, uintptr(unsafe.Pointer(&c.spec)), 0, 0, 0)
	if errno == 0 {
		c.errno = 0
		err := c.rc.Read(c.readFn) // an error: the deadline the context's end set
		if err == nil && c.errno == 0 {
			return true
		}
	}
	if c.ctx.Err() != nil {
		return false
	}
	// Not the context's end: an error of the timerfd, not expected on
	// Linux. The rest of the sleep, and every later one, is a time.Timer's.
	c.fallback = newGoClock(c.ctx)
	return c.fallback.sleep(d - time.Since(start))
}

// read is sleep's callback: false means wait until the timer expires.
func (c *fdClock) read(fd uintptr) bool {
	var expirations [8]byte
	for {
		_, _, e := unix.RawSyscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&expirations[0])), uintptr(len(expirations)))
		if e == unix.EINTR {
			continue
		}
		c.errno = e
		return e != unix.EAGAIN
	}
}

func (c *fdClock) close() {
	c.stop()
	c.f.Close()
	if c.fallback != nil {
		c.fallback.close()
	}
}
