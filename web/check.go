package web

import (
	"errors"

	"github.com/twimlbin/twimlbin/engine"
	"github.com/twimlbin/twimlbin/store"
)

// maxTemplateBytes is the largest template a bin holds, which the store
// enforces: Twilio's limit on a TwiML response.
const maxTemplateBytes = store.MaxTemplateBytes

// checkTemplate checks a template as saving it would, and as the API
// does: the store's size limit, then engine.Compile. It returns the
// compiled template and its warnings, or nil and every diagnostic when the
// template has errors.
func checkTemplate(src string) (*engine.Template, engine.Diagnostics) {
	var tooLarge *store.TemplateTooLargeError
	if errors.As(store.CheckTemplateSize(src), &tooLarge) {
		return nil, engine.Diagnostics{{
			Severity: engine.SeverityError, Code: engine.CodeTemplateTooLarge, Line: 1, Column: 1,
			Message: tooLarge.Problem(),
		}}
	}
	t, err := engine.Compile(src)
	var compErr *engine.CompileError
	if errors.As(err, &compErr) {
		return nil, compErr.Diagnostics
	}
	if err != nil {
		return nil, engine.Diagnostics{{Severity: engine.SeverityError, Line: 1, Column: 1, Message: err.Error()}}
	}
	return t, t.Warnings()
}
