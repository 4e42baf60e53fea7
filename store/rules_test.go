package store

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"
)

func TestCheckTemplateSize(t *testing.T) {
	assert.NoError(t, CheckTemplateSize(""))
	assert.NoError(t, CheckTemplateSize(strings.Repeat("a", MaxTemplateBytes)))

	err := CheckTemplateSize(strings.Repeat("a", MaxTemplateBytes+1))
	assert.ErrorIs(t, err, ErrTemplateTooLarge)
	var tl *TemplateTooLargeError
	require.ErrorAs(t, err, &tl)
	assert.Equal(t, MaxTemplateBytes+1, tl.Size)
	assert.Equal(t, MaxTemplateBytes, tl.Limit)
	assert.Contains(t, tl.Problem(), "the template is 65537 bytes; the limit is 65536 bytes")

	// Bytes, not characters: Twilio counts the response's bytes.
	err = CheckTemplateSize(strings.Repeat("é", MaxTemplateBytes/2+1))
	require.ErrorAs(t, err, &tl)
	assert.Equal(t, MaxTemplateBytes+2, tl.Size)
}

func TestCheckRenderPolicy(t *testing.T) {
	for _, ok := range []string{RenderPolicyLenient, RenderPolicyStrict, DefaultRenderPolicy} {
		assert.NoError(t, CheckRenderPolicy(ok), ok)
	}
	for _, bad := range []string{"", "Strict", " lenient", "loose", "strict\n"} {
		err := CheckRenderPolicy(bad)
		assert.ErrorIs(t, err, ErrBadRenderPolicy, "%q", bad)
		if assert.Error(t, err) {
			assert.Contains(t, err.Error(), `render policy "`+strings.ReplaceAll(bad, "\n", `\n`)+`"`, "the error names the policy")
			assert.Contains(t, err.Error(), `use "strict" or "lenient"`, "the error says what to use")
		}
	}
}

func TestCheckTwilioAuthToken(t *testing.T) {
	for _, ok := range []string{"", strings.Repeat("t", 32), strings.Repeat("é", MaxTwilioAuthToken)} {
		assert.NoError(t, CheckTwilioAuthToken(ok))
	}
	for token, says := range map[string]string{
		strings.Repeat("t", MaxTwilioAuthToken+1): "is 129 characters long; the limit is 128",
		"ab\xff": "must be UTF-8 text",
	} {
		err := CheckTwilioAuthToken(token)
		assert.ErrorIs(t, err, ErrBadTwilioAuthToken)
		var te *TwilioAuthTokenError
		require.ErrorAs(t, err, &te)
		assert.Equal(t, says, te.Problem)
	}
}

func TestCheckBinInput(t *testing.T) {
	good := BinInput{FriendlyName: "Main line", Template: "<Response/>", RenderPolicy: RenderPolicyStrict}
	assert.NoError(t, CheckBinInput(good, ""))

	t.Run("every problem, in order", func(t *testing.T) {
		in := BinInput{FriendlyName: "a\tb", Template: strings.Repeat(" ", MaxTemplateBytes+1), RenderPolicy: "loose"}
		err := CheckBinInput(in, "")
		var fe *FriendlyNameError
		require.ErrorAs(t, err, &fe)
		assert.Contains(t, fe.Problem, "a tab")
		assert.ErrorIs(t, err, ErrBadRenderPolicy)
		var tl *TemplateTooLargeError
		require.ErrorAs(t, err, &tl)
		assert.Equal(t, MaxTemplateBytes+1, tl.Size)
		msg := err.Error()
		name, policy, size := strings.Index(msg, "a tab"), strings.Index(msg, `"loose"`), strings.Index(msg, "65537 bytes")
		assert.True(t, name >= 0 && name < policy && policy < size, "name, policy, size: %q", msg)
	})
	t.Run("one problem", func(t *testing.T) {
		for what, tt := range map[string]struct {
			in   BinInput
			want error
		}{
			"name":   {BinInput{FriendlyName: strings.Repeat("n", MaxFriendlyName+1), RenderPolicy: RenderPolicyLenient}, ErrBadFriendlyName},
			"policy": {BinInput{FriendlyName: "x", RenderPolicy: ""}, ErrBadRenderPolicy},
			"size":   {BinInput{Template: strings.Repeat(" ", MaxTemplateBytes+1), RenderPolicy: RenderPolicyLenient}, ErrTemplateTooLarge},
		} {
			err := CheckBinInput(tt.in, "")
			assert.ErrorIs(t, err, tt.want, what)
			for _, other := range []error{ErrBadFriendlyName, ErrBadRenderPolicy, ErrTemplateTooLarge} {
				if other != tt.want {
					assert.NotErrorIs(t, err, other, what)
				}
			}
		}
	})
	t.Run("the held name is kept unchecked", func(t *testing.T) {
		old := "line\nbreak"
		in := good
		in.FriendlyName = old
		assert.NoError(t, CheckBinInput(in, old))
		assert.ErrorIs(t, CheckBinInput(in, "other"), ErrBadFriendlyName)
		// Only the name is held: the other rules apply all the same.
		in.RenderPolicy = ""
		assert.ErrorIs(t, CheckBinInput(in, old), ErrBadRenderPolicy)
	})
}

// TestBinWritesApplyTheRules: CreateBin, UpdateBin and RestoreRevision
// refuse what CheckBinInput refuses, and save nothing.
func TestBinWritesApplyTheRules(t *testing.T) {
	db := openTest(t)
	acct, _ := newAccount(t, db)
	b := newBin(t, db, acct, "fine")
	bad := map[string]struct {
		in   BinInput
		want error
	}{
		"name":         {BinInput{FriendlyName: "a\nb", Template: "<Response/>", RenderPolicy: RenderPolicyLenient}, ErrBadFriendlyName},
		"policy":       {BinInput{FriendlyName: "x", Template: "<Response/>", RenderPolicy: "loose"}, ErrBadRenderPolicy},
		"empty policy": {BinInput{FriendlyName: "x", Template: "<Response/>"}, ErrBadRenderPolicy},
		"size":         {BinInput{FriendlyName: "x", Template: strings.Repeat(" ", MaxTemplateBytes+1), RenderPolicy: RenderPolicyLenient}, ErrTemplateTooLarge},
	}
	for what, tt := range bad {
		t.Run("create "+what, func(t *testing.T) {
			_, err := db.CreateBin(acct, tt.in)
			require.ErrorIs(t, err, tt.want)
			assert.Contains(t, err.Error(), "create bin")
		})
		t.Run("update "+what, func(t *testing.T) {
			_, err := db.UpdateBin(acct, b.SID, 0, tt.in)
			require.ErrorIs(t, err, tt.want)
			assert.Contains(t, err.Error(), b.SID)
		})
	}
	got, err := db.Bin(acct, b.SID)
	require.NoError(t, err)
	assert.Equal(t, b, got, "the refused updates changed nothing")
	page, err := db.ListBins(acct, ListQuery{})
	require.NoError(t, err)
	assert.Len(t, page.Bins, 1, "the refused creates saved nothing")
	stored, err := db.Account(acct)
	require.NoError(t, err)
	assert.Equal(t, int64(len(b.Template)), stored.TemplateBytes, "nothing was charged")

	t.Run("at the limits", func(t *testing.T) {
		in := BinInput{FriendlyName: strings.Repeat("é", MaxFriendlyName), Template: strings.Repeat(" ", MaxTemplateBytes), RenderPolicy: RenderPolicyStrict}
		created, err := db.CreateBin(acct, in)
		require.NoError(t, err)
		_, err = db.UpdateBin(acct, created.SID, 0, in)
		require.NoError(t, err)
	})

	// Revisions saved before the rules: restoring one applies them, but
	// for its name, which is restored as it was.
	t.Run("restore", func(t *testing.T) {
		for what, tt := range map[string]struct {
			old  func(*binRecord)
			want error
		}{
			"policy": {func(r *binRecord) { r.RenderPolicy = "loose" }, ErrBadRenderPolicy},
			"size":   {func(r *binRecord) { r.Template = strings.Repeat(" ", MaxTemplateBytes+1) }, ErrTemplateTooLarge},
			"name":   {func(r *binRecord) { r.FriendlyName = "a\nb" }, nil},
		} {
			t.Run(what, func(t *testing.T) {
				r := newBin(t, db, acct, "restored "+what)
				require.NoError(t, db.bolt.Update(func(tx *bbolt.Tx) error {
					rec, err := findBin(tx, acct, r.SID)
					if err != nil {
						return err
					}
					tt.old(&rec)
					return putBin(tx, rec)
				}))
				cur, err := db.UpdateBin(acct, r.SID, 0, BinInput{FriendlyName: "now", Template: "<Response/>", RenderPolicy: RenderPolicyLenient})
				require.NoError(t, err)
				got, err := db.RestoreRevision(acct, r.SID, 1, 0)
				if tt.want == nil {
					require.NoError(t, err)
					assert.Equal(t, "a\nb", got.FriendlyName)
					return
				}
				assert.ErrorIs(t, err, tt.want)
				after, err := db.Bin(acct, r.SID)
				require.NoError(t, err)
				assert.Equal(t, cur, after, "the refused restore changed nothing")
			})
		}
	})
}

func TestSetTwilioAuthTokenAppliesTheRule(t *testing.T) {
	db := openTest(t)
	acct, _ := newAccount(t, db)
	_, err := db.SetTwilioAuthToken(acct, "kept")
	require.NoError(t, err)

	_, err = db.SetTwilioAuthToken(acct, strings.Repeat("t", MaxTwilioAuthToken+1))
	require.ErrorIs(t, err, ErrBadTwilioAuthToken)
	assert.Contains(t, err.Error(), "129 characters")
	_, err = db.SetTwilioAuthToken(acct, "a\xffb")
	assert.ErrorIs(t, err, ErrBadTwilioAuthToken)
	got, err := db.TwilioAuthToken(acct)
	require.NoError(t, err)
	assert.Equal(t, "kept", got, "the refused tokens were not saved")

	_, err = db.SetTwilioAuthToken(acct, strings.Repeat("t", MaxTwilioAuthToken))
	assert.NoError(t, err)
}

func TestBinPatch(t *testing.T) {
	cur := Bin{SID: "EH1", FriendlyName: "name", Template: "<Response/>", RenderPolicy: RenderPolicyStrict, Revision: 3}
	s := func(v string) *string { return &v }

	assert.Equal(t, BinInput{FriendlyName: "name", Template: "<Response/>", RenderPolicy: RenderPolicyStrict}, BinPatch{}.Apply(cur),
		"nil fields keep the bin's values")
	assert.Equal(t, BinInput{FriendlyName: "", Template: "<Response/>", RenderPolicy: RenderPolicyLenient},
		BinPatch{FriendlyName: s(""), RenderPolicy: s(RenderPolicyLenient)}.Apply(cur), "a set field replaces the bin's, empty or not")

	assert.Equal(t, BinInput{RenderPolicy: DefaultRenderPolicy}, BinPatch{}.NewBin(), "a new bin's defaults")
	assert.Equal(t, BinInput{FriendlyName: "n", Template: "t", RenderPolicy: RenderPolicyStrict},
		BinPatch{FriendlyName: s("n"), Template: s("t"), RenderPolicy: s(RenderPolicyStrict)}.NewBin())

	assert.False(t, BinPatch{}.Changes(cur))
	assert.False(t, BinPatch{FriendlyName: s("name"), Template: s("<Response/>")}.Changes(cur), "the same values change nothing")
	assert.True(t, BinPatch{Template: s("<Response><Hangup/></Response>")}.Changes(cur))
	assert.True(t, BinPatch{FriendlyName: s("")}.Changes(cur))
}
