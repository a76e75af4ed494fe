package naming

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if goroutines outlive them: servers,
// sockets and exchanges must all stop.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
