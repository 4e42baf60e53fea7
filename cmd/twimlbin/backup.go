package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/twimlbin/twimlbin/store"
)

const backupUsage = `usage: twimlbin backup (--db PATH | --url URL) --out FILE

Writes a consistent copy of the whole database to FILE.

With --db, it reads a database file that no server is using. With --url,
it downloads the copy from a running server (GET /api/v1/backup), as the
account in TWIMLBIN_ACCOUNT_SID and TWIMLBIN_AUTH_TOKEN, which the server
must allow to (serve --backup-accounts).
`

// runBackup writes a hot backup of a database to a file.
func runBackup(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("backup", backupUsage, stderr)
	dbPath := fs.String("db", "", "path of a database file no server is using")
	url := fs.String("url", "", "base URL of a running server, such as http://127.0.0.1:8080")
	outPath := fs.String("out", "", "file to write the backup to")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 || *outPath == "" || (*dbPath == "") == (*url == "") {
		fmt.Fprint(stderr, backupUsage)
		return exitUsage
	}
	// Write to a temporary file beside the target, then rename, so a failed
	// backup never leaves a truncated file under the requested name.
	tmp, err := os.CreateTemp(dirOf(*outPath), ".twimlbin-backup-*")
	if err != nil {
		fmt.Fprintf(stderr, "twimlbin backup: %v\n", err)
		return exitUsage
	}
	defer os.Remove(tmp.Name())
	var n int64
	if *dbPath != "" {
		n, err = backupFile(*dbPath, tmp)
	} else {
		n, err = backupURL(ctx, *url, tmp)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), *outPath)
	}
	if err != nil {
		fmt.Fprintf(stderr, "twimlbin backup: %v\n", err)
		if errors.Is(err, store.ErrCorrupt) {
			return exitCorrupt
		}
		return exitInvalid
	}
	fmt.Fprintf(stdout, "wrote %d bytes to %s\n", n, *outPath)
	return exitOK
}

func dirOf(path string) string {
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		return path[:i+1]
	}
	return "."
}

func backupFile(path string, w io.Writer) (int64, error) {
	if _, err := os.Stat(path); err != nil {
		return 0, err
	}
	db, err := store.Open(path, store.Options{})
	if err != nil {
		return 0, err
	}
	n, err := db.Backup(w)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return n, err
}

func backupURL(ctx context.Context, base string, w io.Writer) (int64, error) {
	sid, token := os.Getenv("TWIMLBIN_ACCOUNT_SID"), os.Getenv("TWIMLBIN_AUTH_TOKEN")
	if sid == "" || token == "" {
		return 0, fmt.Errorf("set TWIMLBIN_ACCOUNT_SID and TWIMLBIN_AUTH_TOKEN to the credentials of an account allowed to back up")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/api/v1/backup", nil)
	if err != nil {
		return 0, err
	}
	req.SetBasicAuth(sid, token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return 0, fmt.Errorf("the server answered %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	return io.Copy(w, resp.Body)
}
