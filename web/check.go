package web

import (
	"errors"
	"fmt"

	"github.com/twimlbin/twimlbin/engine"
)

// maxTemplateBytes is the largest template the web form saves, as the API
// does: Twilio's limit on a TwiML response.
const maxTemplateBytes = engine.MaxBinTemplateSize

// checkTemplate checks a template as the API does before saving it: the
// size limit, then engine.Compile. It returns the compiled template and
// its warnings, or nil and every diagnostic when the template has errors.
func checkTemplate(src string) (*engine.Template, engine.Diagnostics) {
	if len(src) > maxTemplateBytes {
		return nil, engine.Diagnostics{{
			Severity: engine.SeverityError, Code: engine.CodeTemplateTooLarge, Line: 1, Column: 1,
			Message: fmt.Sprintf("the template is %d bytes; the limit is %d bytes (Twilio accepts at most 64 kB of TwiML)", len(src), maxTemplateBytes),
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
