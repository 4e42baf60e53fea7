// Command etcdserver is the etcd server, built from etcd's own Go module:
// it takes the same flags as the etcd binary. Package etcdtest builds it
// when a machine has no etcd installed. It is a module of its own so that
// the main module does not depend on the etcd server.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
