//go:build !linux

package ref

import "time"

// preciseWait is time.Sleep where Linux's timerfd is not there.
func preciseWait(d time.Duration) { time.Sleep(d) }
