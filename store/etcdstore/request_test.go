package etcdstore

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/twimlbin/twimlbin/store"
)

// TestLargestTemplate: a template of store.MaxTemplateBytes goes through
// every write, its bin and its revision in one transaction, within etcd's
// request limit of 1.5 MiB, even when every byte is one that JSON writes
// as six (\u0001).
func TestLargestTemplate(t *testing.T) {
	s, endpoints, prefix := shared(t, testOptions)
	acct := newAccount(t, s)
	for name, unit := range map[string]string{"text": "x", "escaped": "\x01"} {
		t.Run(name, func(t *testing.T) {
			large := strings.Repeat(unit, store.MaxTemplateBytes)
			in := store.BinInput{FriendlyName: "large", Template: large, RenderPolicy: "lenient"}
			created, err := s.CreateBin(acct, in)
			require.NoError(t, err, "create")
			in.Template = strings.Repeat(unit, store.MaxTemplateBytes-1) + "y"
			updated, err := s.UpdateBin(acct, created.SID, 1, in)
			require.NoError(t, err, "update")
			restored, err := s.RestoreRevision(acct, created.SID, 1, 2)
			require.NoError(t, err, "restore")
			assert.Equal(t, large, restored.Template)
			assert.Equal(t, 3, restored.Revision)

			rev, err := s.Revision(acct, created.SID, 2)
			require.NoError(t, err)
			assert.Equal(t, updated.Template, rev.Template)
			stored, err := client(t, endpoints).Get(ctx(t), prefix+dirBins+created.SID)
			require.NoError(t, err)
			var rec binRecord
			require.NoError(t, decode("", stored.Kvs[0].Value, &rec))
			assert.Equal(t, large, rec.Template)
			// The transaction holds the bin and its revision.
			size := len(stored.Kvs[0].Value) + len(encode(rec.revisionRecord()))
			assert.Less(t, size, 1<<20, "two records of %d bytes", len(stored.Kvs[0].Value))
			t.Logf("%s: a %d KiB template is a %d KiB bin record; with its revision, %d KiB of etcd's 1536 KiB request limit",
				name, len(large)>>10, len(stored.Kvs[0].Value)>>10, size>>10)
		})
	}
}
