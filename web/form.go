package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/twimlbin/twimlbin/engine"
	"github.com/twimlbin/twimlbin/store"
)

// Limits of the forms.
const (
	// maxParams is the most preview parameter rows read from a form.
	maxParams = 200
	// spareParamRows is how many empty parameter rows a page adds, so that
	// one can be filled in without JavaScript.
	spareParamRows = 3
)

// fieldErrors maps a form field's name to what is wrong with it.
type fieldErrors map[string]string

// loginForm is the sign-in form.
type loginForm struct {
	AccountSID string
	AuthToken  string
	Next       string // the page to go to once signed in, as sent: see Handler.nextPage
}

func newLoginForm(r *http.Request) loginForm {
	return loginForm{
		AccountSID: strings.TrimSpace(r.PostForm.Get("account_sid")),
		AuthToken:  strings.TrimSpace(r.PostForm.Get("auth_token")),
		Next:       r.PostForm.Get("next"),
	}
}

// signupForm is the sign-up form.
type signupForm struct {
	FriendlyName string
}

func newSignupForm(r *http.Request) signupForm {
	return signupForm{FriendlyName: strings.TrimSpace(r.PostForm.Get("friendly_name"))}
}

func (f signupForm) validate() fieldErrors {
	errs := fieldErrors{}
	var fe *store.FriendlyNameError
	if errors.As(store.CheckFriendlyName(f.FriendlyName), &fe) {
		errs["friendly_name"] = nameMessage(fe)
	}
	return errs
}

// param is one row of the preview's parameters.
type param struct {
	Name  string
	Value string
}

// binForm is the editor's form: the bin's content, the revision the edit
// is based on, and the preview's parameters.
type binForm struct {
	FriendlyName string
	Template     string
	RenderPolicy string
	// Revision is the revision the edit started from; 0 for a new bin.
	Revision int
	// Gallery is the slug of the gallery entry a new bin starts from.
	Gallery string
	Params  []param
	// patch is what the form changes of the bin: the fields it carries.
	patch store.BinPatch
}

// newBinForm reads the editor's form over cur, the bin it edits, or nil
// for a new bin. A field the form carries replaces the bin's; one it
// leaves out keeps the bin's value, or takes the store's default for a new
// bin, as in the API (store.BinPatch). The name is trimmed, and line ends
// are made "\n": browsers send a textarea's lines ended with "\r\n".
func newBinForm(r *http.Request, cur *store.Bin) binForm {
	var f binForm
	if r.PostForm.Has("friendly_name") {
		name := strings.TrimSpace(r.PostForm.Get("friendly_name"))
		f.patch.FriendlyName = &name
	}
	if r.PostForm.Has("template") {
		src := strings.ReplaceAll(r.PostForm.Get("template"), "\r\n", "\n")
		f.patch.Template = &src
	}
	if r.PostForm.Has("render_policy") {
		policy := r.PostForm.Get("render_policy")
		f.patch.RenderPolicy = &policy
	}
	in := f.patch.NewBin()
	if cur != nil {
		in = f.patch.Apply(*cur)
	}
	f.FriendlyName, f.Template, f.RenderPolicy = in.FriendlyName, in.Template, in.RenderPolicy
	f.Gallery = r.PostForm.Get("gallery")
	f.Revision, _ = strconv.Atoi(r.PostForm.Get("revision"))
	names, values := r.PostForm["param_name"], r.PostForm["param_value"]
	for i, name := range names {
		if len(f.Params) == maxParams {
			break
		}
		if name = strings.TrimSpace(name); name == "" {
			continue
		}
		p := param{Name: name}
		if i < len(values) {
			p.Value = values[i]
		}
		f.Params = append(f.Params, p)
	}
	return f
}

// validate checks the form by the store's rules for a bin's content
// (store.CheckBinInput), which saving applies again, and says what is
// wrong with each field; held is the friendly name the bin keeps unchecked
// ("" for a new bin). The template's size is left to checkTemplate, which
// shows it among the template's diagnostics.
func (f binForm) validate(held string) fieldErrors {
	errs := fieldErrors{}
	err := store.CheckBinInput(f.input(), held)
	var fe *store.FriendlyNameError
	if errors.As(err, &fe) {
		errs["friendly_name"] = nameMessage(fe)
	}
	if errors.Is(err, store.ErrBadRenderPolicy) {
		errs["render_policy"] = "Choose strict or lenient."
	}
	return errs
}

// policy is the form's render policy, lenient when it is not valid.
func (f binForm) policy() engine.Policy {
	p, _ := engine.ParsePolicy(f.RenderPolicy)
	return p
}

// input is what saving the form stores.
func (f binForm) input() store.BinInput {
	return store.BinInput{FriendlyName: f.FriendlyName, Template: f.Template, RenderPolicy: f.RenderPolicy}
}

// values are the preview's parameters, as a request's: a name given in
// several rows is a list.
func (f binForm) values() map[string][]string {
	v := make(map[string][]string, len(f.Params))
	for _, p := range f.Params {
		v[p.Name] = append(v[p.Name], p.Value)
	}
	return v
}

// paramRows are the parameter rows a page shows: the form's and a few
// empty ones.
func (f binForm) paramRows() []param {
	return append(append([]param(nil), f.Params...), make([]param, spareParamRows)...)
}

// binFormOf is the form of a saved bin.
func binFormOf(b store.Bin) binForm {
	return binForm{FriendlyName: b.FriendlyName, Template: b.Template, RenderPolicy: b.RenderPolicy, Revision: b.Revision}
}

// nameMessage is the form's message for a name the store's one rule
// refuses, which the API applies too.
func nameMessage(fe *store.FriendlyNameError) string {
	return "The name " + fe.Problem + "."
}
