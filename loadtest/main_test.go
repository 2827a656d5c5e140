package loadtest

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if any goroutine outlives them: every
// run must stop all its workers, timers and connections.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
