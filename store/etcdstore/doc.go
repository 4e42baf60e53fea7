// Package etcdstore keeps twimlbin's data in an etcd cluster shared by
// several equal twimlbin nodes behind a load balancer: the second
// implementation of store.Store, beside the bbolt file of package store.
// It answers as store.DB does (the same records, the same errors wrapping
// the same sentinels, the same rules for names, quotas and pruned
// revisions); the layout of keys and values is in schema.go.
//
// # Memory and the watch
//
// Every node holds all accounts and every bin's current record and usage
// in memory, loaded at Open and kept current by one watch of the whole key
// prefix. Authenticate, Account, Bin, BinBySID, ListBins, CountAccounts,
// TwilioAuthToken and SessionKey answer from memory, so a node serves the
// bins it knows while etcd is unreachable; Revisions, Revision and Events
// read etcd. A node's own write is in its memory before the method
// returns, and Generation grows for it then; another node's write arrives
// with the watch, a moment later, and Generation grows once it is applied.
// When etcd has compacted the history a lagging watch needs, the node
// loads everything again and goes on watching, without a restart.
//
// # Writes
//
// Every write is one etcd transaction. An update, restore or delete reads
// the bin and its account's quota record from etcd (never from memory),
// checks ifRevision and commits only if neither changed since; when one
// did, it reads again (and an ifRevision no longer current is
// store.ErrConflict).
//
// # Usage and events
//
// Count and AddEvent write nothing: counts and events wait in memory,
// where reads add them, and a flush every Options.FlushInterval (and
// Flush, and Close) adds each bin's count to what etcd holds in
// transactions that compare what they add to, so the counts of nodes
// flushing at once all add up. Each flush writes a token of its own with
// the count, so that a flush whose answer was lost is not counted twice
// once the watch shows that it landed. A crash loses at most the last
// FlushInterval of a node's counts and events.
//
// # History and space
//
// etcd keeps every version of every key until its history is compacted,
// and the usage flushes of every node write often, so each node compacts
// the history every Config.CompactInterval (5 minutes by default), to the
// revision it had seen one interval before: etcd keeps about one interval
// of history, which a watch lagging less than that never misses (one
// further behind loads everything again), and reuses the space of what it
// forgets. All nodes doing it is harmless. A node never defragments, which
// blocks the member while it runs: the database file keeps its largest
// size. A negative CompactInterval leaves compaction to etcd
// (--auto-compaction-retention) or to the operator.
//
// At its space quota (--quota-backend-bytes, 2 GiB by default) etcd raises
// its NOSPACE alarm and refuses every write until the operator compacts,
// defragments and clears the alarm. Meanwhile a node serves what it holds
// and its reads of etcd work; writes fail with store.ErrNoSpace, having
// saved nothing (etcd may save a write that it refuses, as it checks the
// quota again while applying it: the store reads such a write back and
// answers that it was saved); counts and events wait in memory, and
// nodes can start. Once the alarm is cleared, writes work again.
//
// # Copies and backups
//
// A Store is a store.Copier: twimlbin migrate copies a bbolt file into
// etcd, or back, record by record (Export reads the prefix at one etcd
// revision). Backup copies the store that way into a bbolt file under the
// system's temporary directory, then writes that file out.
//
// # Errors
//
// Every call into etcd is bounded by Config.RequestTimeout. A call that
// fails because etcd is unreachable or has no quorum returns an error
// wrapping store.ErrUnavailable (a write that timed out may still have
// been saved: read it back before retrying), a write refused by etcd's
// space quota one wrapping store.ErrNoSpace. Reachable says whether the
// node is in touch with etcd, for a readiness probe.
package etcdstore
