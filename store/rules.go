package store

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// MaxTemplateBytes is the largest template a bin may hold, in bytes:
// Twilio's 64 kB limit on a TwiML response.
const MaxTemplateBytes = 64 << 10

// The render policies a bin may have: what its URL does with a request
// value that breaks the rule of the slot it lands in. They are the names
// of the engine's policies (engine.Policy's String).
const (
	// RenderPolicyLenient repairs the output and reports a warning.
	RenderPolicyLenient = "lenient"
	// RenderPolicyStrict fails the render.
	RenderPolicyStrict = "strict"
	// DefaultRenderPolicy is the policy of a new bin that names none.
	DefaultRenderPolicy = RenderPolicyLenient
)

// MaxTwilioAuthToken is the longest Twilio auth token an account may hold,
// in characters; Twilio's are 32.
const MaxTwilioAuthToken = 128

var (
	// ErrTemplateTooLarge: a template over MaxTemplateBytes. The error is
	// a *TemplateTooLargeError, which carries the sizes. Nothing was saved.
	ErrTemplateTooLarge = errors.New("store: template too large")
	// ErrBadRenderPolicy: a render policy that is not RenderPolicyLenient
	// or RenderPolicyStrict. The error names the policy. Nothing was
	// saved.
	ErrBadRenderPolicy = errors.New("store: bad render policy")
	// ErrBadTwilioAuthToken: a Twilio auth token CheckTwilioAuthToken
	// refuses. The error is a *TwilioAuthTokenError, which says what is
	// wrong. Nothing was saved.
	ErrBadTwilioAuthToken = errors.New("store: bad Twilio auth token")
)

// TemplateTooLargeError is the error of a template over the limit; it
// wraps ErrTemplateTooLarge.
type TemplateTooLargeError struct {
	// Size is the template's length and Limit MaxTemplateBytes, in bytes.
	Size, Limit int
}

func (e *TemplateTooLargeError) Error() string { return "store: " + e.Problem() }

// Problem says what is wrong, for people: "the template is 70000 bytes;
// the limit is 65536 bytes (Twilio accepts at most 64 kB of TwiML)".
func (e *TemplateTooLargeError) Problem() string {
	return fmt.Sprintf("the template is %d bytes; the limit is %d bytes (Twilio accepts at most 64 kB of TwiML)", e.Size, e.Limit)
}

// Unwrap returns ErrTemplateTooLarge.
func (e *TemplateTooLargeError) Unwrap() error { return ErrTemplateTooLarge }

// TwilioAuthTokenError says what is wrong with a Twilio auth token. It
// wraps ErrBadTwilioAuthToken.
type TwilioAuthTokenError struct {
	// Problem ends the sentence "The token …", such as "is 129 characters
	// long; the limit is 128".
	Problem string
}

func (e *TwilioAuthTokenError) Error() string { return "store: Twilio auth token " + e.Problem }

// Unwrap returns ErrBadTwilioAuthToken.
func (e *TwilioAuthTokenError) Unwrap() error { return ErrBadTwilioAuthToken }

// CheckTemplateSize refuses a template over MaxTemplateBytes with a
// *TemplateTooLargeError, and returns nil otherwise. The size is in bytes,
// as Twilio counts a response.
func CheckTemplateSize(template string) error {
	if len(template) > MaxTemplateBytes {
		return &TemplateTooLargeError{Size: len(template), Limit: MaxTemplateBytes}
	}
	return nil
}

// CheckRenderPolicy refuses a render policy other than RenderPolicyLenient
// and RenderPolicyStrict, the empty one too, with an error wrapping
// ErrBadRenderPolicy that names it; it returns nil otherwise.
func CheckRenderPolicy(policy string) error {
	if policy == RenderPolicyLenient || policy == RenderPolicyStrict {
		return nil
	}
	return fmt.Errorf("render policy %q: use %q or %q: %w", policy, RenderPolicyStrict, RenderPolicyLenient, ErrBadRenderPolicy)
}

// CheckBinInput is the one check of what a write saves as a bin's content.
// Every backend calls it, before writing anything, in CreateBin (with
// heldName "") and in UpdateBin and RestoreRevision (with the name the
// content keeps); the API and the web form call it too, to answer before
// they compile the template. It returns nil, or every problem found,
// joined in this order:
//   - the friendly name, by CheckFriendlyName (a *FriendlyNameError),
//     unless it is heldName: a bin named under older rules can still be
//     changed, and an old revision is restored as it was;
//   - the render policy, by CheckRenderPolicy (ErrBadRenderPolicy);
//   - the template's size, by CheckTemplateSize (a *TemplateTooLargeError).
func CheckBinInput(in BinInput, heldName string) error {
	var errs []error
	if in.FriendlyName != heldName {
		errs = append(errs, CheckFriendlyName(in.FriendlyName))
	}
	errs = append(errs, CheckRenderPolicy(in.RenderPolicy), CheckTemplateSize(in.Template))
	return errors.Join(errs...)
}

// CheckTwilioAuthToken is the rule for the Twilio auth token of an
// account, which SetTwilioAuthToken of every backend applies: UTF-8 text of
// at most MaxTwilioAuthToken characters; "" clears the token. It returns a
// *TwilioAuthTokenError, or nil.
func CheckTwilioAuthToken(token string) error {
	if !utf8.ValidString(token) {
		return &TwilioAuthTokenError{"must be UTF-8 text"}
	}
	if n := utf8.RuneCountInString(token); n > MaxTwilioAuthToken {
		return &TwilioAuthTokenError{fmt.Sprintf("is %d characters long; the limit is %d", n, MaxTwilioAuthToken)}
	}
	return nil
}

// BinPatch is a change to some of a bin's content, as an update of the API
// or the web form gives it: a nil field keeps the bin's value. It is the
// one merge of a partial update.
type BinPatch struct {
	FriendlyName *string
	Template     *string
	RenderPolicy *string
}

// Apply returns current's content with the patch's fields in place of its
// own: what UpdateBin is given.
func (p BinPatch) Apply(current Bin) BinInput {
	return p.over(current.input())
}

// NewBin returns the content of a new bin made from the patch: a field it
// leaves nil takes its default, an empty friendly name and template and
// DefaultRenderPolicy.
func (p BinPatch) NewBin() BinInput {
	return p.over(BinInput{RenderPolicy: DefaultRenderPolicy})
}

// Changes reports whether Apply changes anything of current's content. The
// API and the web form save no revision for a patch that changes nothing.
func (p BinPatch) Changes(current Bin) bool {
	return p.Apply(current) != current.input()
}

func (p BinPatch) over(in BinInput) BinInput {
	if p.FriendlyName != nil {
		in.FriendlyName = *p.FriendlyName
	}
	if p.Template != nil {
		in.Template = *p.Template
	}
	if p.RenderPolicy != nil {
		in.RenderPolicy = *p.RenderPolicy
	}
	return in
}

// input is the bin's content as a BinInput.
func (b Bin) input() BinInput {
	return BinInput{FriendlyName: b.FriendlyName, Template: b.Template, RenderPolicy: b.RenderPolicy}
}
