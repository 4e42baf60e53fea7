package api

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"
	"github.com/twimlbin/twimlbin/engine"
	"github.com/twimlbin/twimlbin/store"
)

// binPreviewRequest is the body of POST /api/v1/bins/{sid}/preview.
type binPreviewRequest struct {
	RenderPolicy *string `json:"render_policy"` // default: the bin's
	Params       params  `json:"params"`
}

// draftPreviewRequest is the body of POST /api/v1/preview.
type draftPreviewRequest struct {
	Template     *string `json:"template"`
	RenderPolicy *string `json:"render_policy"` // default: lenient
	Params       params  `json:"params"`
}

// previewResult is what a preview answers: what the bin URL would answer
// to a request with the given parameters.
type previewResult struct {
	// Status is the HTTP status the bin URL would answer: 200, or 500 when
	// the render fails.
	Status int `json:"status"`
	// TwiML is the response body; null when the render fails.
	TwiML *string `json:"twiml"`
	// Diagnostics are the render's findings.
	Diagnostics engine.Diagnostics `json:"diagnostics"`
	// Warnings are the template's compile-time warnings.
	Warnings     engine.Diagnostics `json:"warnings"`
	RenderPolicy string             `json:"render_policy"`
}

// previewBin answers POST /api/v1/bins/{sid}/preview: it renders the bin's
// current template. It does not count as a request to the bin and writes
// nothing to its event log.
func (s *Server) previewBin(c echo.Context) error {
	var req binPreviewRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	bin, err := s.readBin(c)
	if err != nil {
		return err
	}
	e, err := s.cache.peek(bin)
	if err != nil {
		return err
	}
	policy := e.policy
	if req.RenderPolicy != nil {
		if policy, err = parsePolicy(*req.RenderPolicy); err != nil {
			return err
		}
	}
	return c.JSON(http.StatusOK, preview(e.tmpl, policy, req.Params))
}

// previewDraft answers POST /api/v1/preview: it compiles and renders a
// template given in the request, saving nothing.
func (s *Server) previewDraft(c echo.Context) error {
	var req draftPreviewRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.Template == nil {
		return errInvalidParameter("template is required.")
	}
	policy := engine.Lenient
	if req.RenderPolicy != nil {
		var err error
		if policy, err = parsePolicy(*req.RenderPolicy); err != nil {
			return err
		}
	}
	if err := store.CheckTemplateSize(*req.Template); err != nil {
		return err
	}
	tmpl, err := engine.Compile(*req.Template)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, preview(tmpl, policy, req.Params))
}

func preview(t *engine.Template, p engine.Policy, values params) previewResult {
	out, diags, err := t.Render(values, p)
	res := previewResult{
		Status:       http.StatusOK,
		Diagnostics:  diags,
		Warnings:     t.Warnings(),
		RenderPolicy: p.String(),
	}
	if err != nil {
		res.Status = http.StatusInternalServerError
	} else {
		twiml := string(out)
		res.TwiML = &twiml
	}
	if res.Diagnostics == nil {
		res.Diagnostics = engine.Diagnostics{}
	}
	if res.Warnings == nil {
		res.Warnings = engine.Diagnostics{}
	}
	return res
}

// parsePolicy reads a render_policy: one the store allows a bin
// (store.CheckRenderPolicy, whose error answers 400), as the engine's
// Policy.
func parsePolicy(s string) (engine.Policy, error) {
	if err := store.CheckRenderPolicy(s); err != nil {
		return engine.Lenient, err
	}
	return engine.ParsePolicy(s)
}

// validateRequest is the body of POST /api/v1/validate.
type validateRequest struct {
	Template *string `json:"template"`
}

// validation is the answer of POST /api/v1/validate.
type validation struct {
	// Valid is true when the template has no errors: it can be saved.
	Valid bool `json:"valid"`
	// Diagnostics are every finding, errors and warnings, in source order.
	Diagnostics engine.Diagnostics `json:"diagnostics"`
	// Context is the kind of document, voice, messaging or fax; empty when
	// the template is not valid.
	Context string `json:"context,omitempty"`
	// Variables are the parameter names the template reads.
	Variables []string `json:"variables"`
}

// validate answers POST /api/v1/validate: the diagnostics of a template,
// with 200 whether it is valid or not. Nothing is saved.
func (s *Server) validate(c echo.Context) error {
	var req validateRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.Template == nil {
		return errInvalidParameter("template is required.")
	}
	out := validation{Diagnostics: engine.Diagnostics{}, Variables: []string{}}
	var tooLarge *store.TemplateTooLargeError
	if errors.As(store.CheckTemplateSize(*req.Template), &tooLarge) {
		out.Diagnostics = engine.Diagnostics{tooLargeDiagnostic(tooLarge)}
		return c.JSON(http.StatusOK, out)
	}
	tmpl, err := engine.Compile(*req.Template)
	var compErr *engine.CompileError
	switch {
	case errors.As(err, &compErr):
		out.Diagnostics = compErr.Diagnostics
	case err != nil:
		return err
	default:
		out.Valid = true
		out.Context = tmpl.Context()
		if w := tmpl.Warnings(); w != nil {
			out.Diagnostics = w
		}
		if v := tmpl.Variables(); v != nil {
			out.Variables = v
		}
	}
	return c.JSON(http.StatusOK, out)
}
