package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/twimlbin/twimlbin/store"
)

const accountUsage = `usage: twimlbin account create --db PATH [--name NAME]
       twimlbin account create --etcd-endpoints URLS [--etcd-prefix P] [--name NAME]

Creates an account and prints its credentials as JSON:
{"sid": "AC…", "auth_token": "…"}. The auth token is shown only here.
A database file must not be in use by a running server: with one running,
enable --open-signup and use POST /api/v1/accounts instead. An etcd
cluster may be: the servers over it see the account at once.
`

// runAccount creates an account directly in a database file.
func runAccount(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprint(stderr, accountUsage)
		return exitUsage
	}
	fs := newFlagSet("account create", accountUsage, stderr)
	dbPath := fs.String("db", "data/twimlbin.db", "path of the database file")
	name := fs.String("name", "", "friendly name of the account")
	var etcd etcdFlags
	etcd.define(fs, os.Getenv)
	if code, ok := parseFlags(fs, args[1:]); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "twimlbin account create: unexpected argument %q\n", fs.Arg(0))
		return exitUsage
	}
	if err := etcd.check(); err != nil {
		fmt.Fprintf(stderr, "twimlbin account create: %v\n", err)
		return exitUsage
	}
	var db store.Store
	var err error
	if etcd.enabled() {
		db, err = etcd.open(store.Options{}, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	} else {
		db, err = store.Open(*dbPath, store.Options{})
	}
	if err != nil {
		fmt.Fprintf(stderr, "twimlbin account create: %v\n", err)
		if errors.Is(err, store.ErrCorrupt) {
			return exitCorrupt
		}
		return exitUsage
	}
	acct, token, err := db.CreateAccount(*name)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintf(stderr, "twimlbin account create: %v\n", err)
		return exitInvalid
	}
	out, _ := json.Marshal(struct {
		SID       string `json:"sid"`
		AuthToken string `json:"auth_token"`
	}{acct.SID, token})
	fmt.Fprintf(stdout, "%s\n", out)
	return exitOK
}
