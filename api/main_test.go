package api

import (
	"os"
	"testing"

	"github.com/twimlbin/twimlbin/internal/etcdtest"
)

// TestMain stops the etcd member that tests on the etcd backend share
// (internal/backendtest), and removes its data, once they have run.
func TestMain(m *testing.M) {
	code := m.Run()
	etcdtest.StopShared()
	os.Exit(code)
}
