package etcdtest

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
)

// serverModulePath is the module path of the etcd server that the
// etcdserver module builds; its version names the binary.
const serverModulePath = "go.etcd.io/etcd/server/v3"

// Build builds the etcd server of the etcdserver module (the directory
// etcdserver beside this package's source) into cacheDir and returns the
// binary's path. The binary is named by the module's etcd version and a
// hash of its files, so it is built once per machine and rebuilt when the
// module changes. Processes that build into one cacheDir at once take
// turns on a lock file: one builds, the others wait and use its binary,
// which appears whole, by rename. It fails when the source of this package
// is not where it was compiled (the module is found from it), or when the
// build fails, with go build's output.
func Build(cacheDir string) (string, error) {
	module, err := serverModule()
	if err != nil {
		return "", err
	}
	path, _, err := build(module, cacheDir)
	return path, err
}

// serverModule returns the directory of the etcdserver module, found from
// this file's path as the compiler saw it.
func serverModule() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot find the source of package etcdtest, where the etcd server module is: set TWIMLBIN_ETCD to the path of an etcd binary")
	}
	dir := filepath.Join(filepath.Dir(file), "etcdserver")
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		return "", fmt.Errorf("no etcd server module to build at %s (%w): run from a checkout of the source, built without -trimpath, or set TWIMLBIN_ETCD to the path of an etcd binary", dir, err)
	}
	return dir, nil
}

// build builds the main package of module into cacheDir, unless it is
// there already, and reports whether this call built it.
func build(module, cacheDir string) (path string, built bool, err error) {
	name, err := binaryName(module)
	if err != nil {
		return "", false, err
	}
	path = filepath.Join(cacheDir, name)
	if isExecutable(path) {
		return path, false, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", false, fmt.Errorf("build etcd: %w", err)
	}

	// One builder at a time; the lock goes with the file's close, or with
	// the process.
	lock, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", false, fmt.Errorf("build etcd: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", false, fmt.Errorf("build etcd: lock %s: %w", lock.Name(), err)
	}
	if isExecutable(path) {
		return path, false, nil // built by the process that held the lock
	}

	// Build under a temporary name and rename, so that no one runs a
	// half-written binary.
	tmp, err := os.MkdirTemp(cacheDir, "build-")
	if err != nil {
		return "", false, fmt.Errorf("build etcd: %w", err)
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "etcd")
	cmd := exec.Command("go", "build", "-C", module, "-buildvcs=false", "-o", out, ".")
	cmd.Env = append(os.Environ(), "GOWORK=off")
	if output, err := cmd.CombinedOutput(); err != nil {
		return "", false, fmt.Errorf("build etcd from %s (it needs Go and the Go module proxy; or install Debian's etcd-server package, or set TWIMLBIN_ETCD to the path of an etcd binary): %w\n%s", module, err, output)
	}
	if err := os.Rename(out, path); err != nil {
		return "", false, fmt.Errorf("build etcd: %w", err)
	}
	return path, true, nil
}

// binaryName names the binary built from module by the version of etcd it
// requires and a hash of its go.mod, go.sum and Go files, for example
// etcd-v3.7.3-0123456789ab.
func binaryName(module string) (string, error) {
	goMod, err := os.ReadFile(filepath.Join(module, "go.mod"))
	if err != nil {
		return "", fmt.Errorf("build etcd: %w", err)
	}
	version := requiredVersion(string(goMod), serverModulePath)
	if version == "" {
		return "", fmt.Errorf("build etcd: %s does not require %s: add it with go get", filepath.Join(module, "go.mod"), serverModulePath)
	}
	files, err := filepath.Glob(filepath.Join(module, "*.go"))
	if err != nil {
		return "", fmt.Errorf("build etcd: %w", err)
	}
	files = append([]string{filepath.Join(module, "go.mod"), filepath.Join(module, "go.sum")}, files...)
	h := sha256.New()
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return "", fmt.Errorf("build etcd: %w", err)
		}
		fmt.Fprintf(h, "%s\n", filepath.Base(name))
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", fmt.Errorf("build etcd: %w", err)
		}
	}
	return "etcd-" + version + "-" + hex.EncodeToString(h.Sum(nil))[:12], nil
}

// requiredVersion returns the version of modulePath that goMod requires,
// in a require line or block, or "" if it requires none.
func requiredVersion(goMod, modulePath string) string {
	inRequire := false
	lines := bufio.NewScanner(strings.NewReader(goMod))
	for lines.Scan() {
		fields := strings.Fields(lines.Text())
		switch {
		case len(fields) == 0:
			continue
		case fields[0] == ")":
			inRequire = false
			continue
		case len(fields) == 2 && fields[1] == "(":
			inRequire = fields[0] == "require"
			continue
		case fields[0] == "require":
			fields = fields[1:]
		case !inRequire:
			continue
		}
		if len(fields) >= 2 && fields[0] == modulePath {
			return fields[1]
		}
	}
	return ""
}

// isExecutable reports whether path is a regular file anyone may run.
func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}
