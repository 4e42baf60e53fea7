package etcdtest

import (
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestBuild builds the etcd server into an empty cache from two goroutines
// at once, as two test binaries would: one builds, the other waits for it
// and gets the same binary, nothing else is left in the cache, and a
// one-member cluster of that binary takes a write.
func TestBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds etcd from its Go module, which takes minutes")
	}
	// On a machine without etcd, the other tests of this run need the
	// binary in the user's cache: have it built (or wait while another
	// test binary builds it) before building again here, so that etcd is
	// compiled once per run and this build only links, from Go's build
	// cache, instead of compiling beside clusters that other tests start.
	if _, err := Binary(); err != nil {
		t.Fatal(err)
	}
	module, err := serverModule()
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	type result struct {
		path  string
		built bool
		err   error
	}
	results := make(chan result, 2)
	for range 2 {
		go func() {
			path, built, err := build(module, cache)
			results <- result{path, built, err}
		}()
	}
	a, b := <-results, <-results
	for _, r := range []result{a, b} {
		if r.err != nil {
			t.Fatal(r.err)
		}
	}
	if a.path != b.path {
		t.Fatalf("the two builds gave %s and %s, want one binary", a.path, b.path)
	}
	if a.built == b.built {
		t.Fatalf("built by both: %v, by neither: %v; want by one of the two", a.built, !a.built)
	}
	name := filepath.Base(a.path)
	if !strings.HasPrefix(name, "etcd-v3.") {
		t.Errorf("binary named %s, want it named by the etcd version, etcd-v3.…", name)
	}
	if got, want := dirNames(t, cache), []string{name, name + ".lock"}; !slices.Equal(got, want) {
		t.Errorf("cache holds %q, want %q", got, want)
	}

	c, err := startCluster(a.path, t.TempDir(), 1, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if code := put(t, c.Endpoints[0]); code != http.StatusOK {
		t.Fatalf("put: status %d", code)
	}
}

// TestBuildFailure: a module that does not compile gives an error with the
// compiler's words, and leaves no binary in the cache.
func TestBuildFailure(t *testing.T) {
	module, err := serverModule()
	if err != nil {
		t.Fatal(err)
	}
	broken := t.TempDir()
	for _, name := range []string{"go.mod", "go.sum"} {
		data, err := os.ReadFile(filepath.Join(module, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(broken, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(broken, "main.go"), []byte("package main\n\nfunc main() { notDefined() }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	_, _, err = build(broken, cache)
	if err == nil || !strings.Contains(err.Error(), "undefined: notDefined") {
		t.Fatalf("build of a broken module: error %v, want one with the compiler's output", err)
	}
	for _, name := range dirNames(t, cache) {
		if !strings.HasSuffix(name, ".lock") {
			t.Errorf("a failed build left %s in the cache", name)
		}
	}
}

func TestRequiredVersion(t *testing.T) {
	tests := []struct {
		name, goMod, want string
	}{
		{"block", "module m\n\nrequire (\n\ta v1.0.0\n\tgo.etcd.io/etcd/server/v3 v3.7.3 // indirect\n)\n", "v3.7.3"},
		{"line", "module m\n\nrequire go.etcd.io/etcd/server/v3 v3.6.16\n", "v3.6.16"},
		{"replace block only", "module m\n\nreplace (\n\tgo.etcd.io/etcd/server/v3 v3.7.3 => ../etcd\n)\n", ""},
		{"none", "module m\n\nrequire go.etcd.io/etcd/client/v3 v3.7.3\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := requiredVersion(tt.goMod, serverModulePath); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// dirNames returns the sorted names in dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
