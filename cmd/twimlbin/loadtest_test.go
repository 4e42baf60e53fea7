package main

import (
	"strings"
	"testing"
)

// TestLoadtest runs a tiny load test: every part runs, and every request
// is answered as expected, or the exit code would be 1 (the figures
// themselves are not checked).
func TestLoadtest(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	got := runCommand(t, "", "loadtest", "-server-bin", buildBinary(t), "-clients", "2", "-duration", "50ms", "-rounds", "1",
		"-bins", "20", "-create-clients", "1", "-create-duration", "50ms")
	if got.code != exitOK {
		t.Fatalf("exit code %d\nstdout:\n%s\nstderr:\n%s", got.code, got.stdout, got.stderr)
	}
	for _, want := range []string{
		"round 1, static:", "round 1, bin URL:", "bin URL / static:",
		"creates:", "bins:", "each bin once (cold):", "round 1, random of ",
		"round 1, one bin stored:", " / one bin stored:", "VmRSS", "Go heap in use",
	} {
		if !strings.Contains(got.stdout, want) {
			t.Errorf("the report lacks %q:\n%s", want, got.stdout)
		}
	}
}

func TestLoadtestFlags(t *testing.T) {
	for _, args := range [][]string{{"-clients", "0"}, {"-rounds", "0"}, {"extra"}} {
		if got := runCommand(t, "", append([]string{"loadtest"}, args...)...); got.code != exitUsage {
			t.Errorf("loadtest %v: exit code %d, want %d", args, got.code, exitUsage)
		}
	}
}
