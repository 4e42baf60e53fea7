package web

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/twimlbin/twimlbin/engine"
	"github.com/twimlbin/twimlbin/store"
)

// updateBin answers POST /bins/{sid}: it saves the form as the bin's next
// revision when the template has no errors and the bin is still at the
// revision the form was based on. Errors show the form again with
// everything typed; a revision saved meanwhile shows both versions.
func (h *Handler) updateBin(w http.ResponseWriter, r *http.Request) error {
	bin, err := h.readBin(r)
	if err != nil {
		return err
	}
	form := newBinForm(r, &bin)
	if form.Revision, err = formRevision(r); err != nil {
		return err
	}
	errs := form.validate(bin.FriendlyName)
	t, diags := checkTemplate(form.Template)
	if len(errs) > 0 || t == nil {
		p := h.newEditorPage(r, &bin, form, diags)
		p.Errors = errs
		h.render(w, r, http.StatusUnprocessableEntity, "editor", p)
		return nil
	}
	if form.Revision != bin.Revision {
		return h.showConflict(w, r, bin, form, diags)
	}
	if !form.patch.Changes(bin) {
		return redirect(w, r, "/bins/"+bin.SID+"?unchanged=1")
	}
	saved, err := h.db.UpdateBin(bin.AccountSID, bin.SID, form.Revision, form.input())
	if errors.Is(err, store.ErrConflict) {
		if bin, err = h.readBin(r); err != nil {
			return err
		}
		return h.showConflict(w, r, bin, form, diags)
	}
	if err != nil {
		return h.showUnsaved(w, r, h.newEditorPage(r, &bin, form, diags), err)
	}
	return redirect(w, r, "/bins/"+saved.SID+"?saved="+strconv.Itoa(saved.Revision))
}

// showConflict shows the user's edit beside the revision saved since it
// started. The form is now based on the saved revision: saving it again
// replaces that revision, by the user's choice.
func (h *Handler) showConflict(w http.ResponseWriter, r *http.Request, saved store.Bin, mine binForm, diags engine.Diagnostics) error {
	basedOn := mine.Revision
	mine.Revision = saved.Revision
	p := h.newEditorPage(r, &saved, mine, diags)
	p.Conflict = &conflictView{BasedOn: basedOn, Saved: saved, Diff: lineDiff(saved.Template, mine.Template)}
	h.render(w, r, http.StatusConflict, "editor", p)
	return nil
}
