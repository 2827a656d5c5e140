package ref

import (
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// preciseWait waits d on a timerfd of its own, read through the network
// poller, so the wait ends when the kernel's timer fires, within tens of
// microseconds. Go's own timers wake the poller with a timeout in whole
// milliseconds on Linux, so a time.Sleep ends up to a millisecond late
// when another request wakes the server just before it is due: a paced
// generator's next request does so every time at a rate of 1/delay, and
// the overshoot would be counted as the generator's overhead. Should the
// timerfd fail, the rest of d is slept with time.Sleep.
func preciseWait(d time.Duration) {
	deadline := time.Now().Add(d)
	if timerfdWait(d) != nil {
		time.Sleep(time.Until(deadline))
	}
}

func timerfdWait(d time.Duration) error {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), "timerfd") // nonblocking: read through the poller
	defer f.Close()
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(d.Nanoseconds())}
	if err := unix.TimerfdSettime(fd, 0, &spec, nil); err != nil {
		return err
	}
	var expirations [8]byte
	_, err = f.Read(expirations[:])
	return err
}
