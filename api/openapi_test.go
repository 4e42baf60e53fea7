package api

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/twimlbin/twimlbin/engine"
)

type openAPIDoc struct {
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"schemas"`
		ErrorCodes map[string]struct {
			Status int `json:"status"`
		} `json:"x-error-codes"`
	} `json:"components"`
}

func loadOpenAPI(t *testing.T) openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return doc
}

var echoParam = regexp.MustCompile(`:([a-z]+)`)

// TestOpenAPIRoutes: every route of the server is in the document, and
// every operation of the document is a route.
func TestOpenAPIRoutes(t *testing.T) {
	e := newEnv(t, Config{})
	var routes []string
	for _, r := range e.srv.echo.Routes() {
		routes = append(routes, r.Method+" "+echoParam.ReplaceAllString(r.Path, "{$1}"))
	}
	var documented []string
	for path, item := range loadOpenAPI(t).Paths {
		for method := range item {
			switch method {
			case "get", "post", "put", "patch", "delete", "head", "options":
				documented = append(documented, strings.ToUpper(method)+" "+path)
			}
		}
	}
	sort.Strings(routes)
	sort.Strings(documented)
	for _, r := range routes {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is not in openapi.json", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(routes, d) {
			t.Errorf("openapi.json documents %s, which is not a route", d)
		}
	}
	if len(routes) < 25 {
		t.Errorf("only %d routes: %v", len(routes), routes)
	}
}

func TestOpenAPIServed(t *testing.T) {
	e := newEnv(t, Config{})
	rec := e.ok(req{method: "GET", path: "/api/v1/openapi.json"}, http.StatusOK, nil)
	if rec.Body.String() != string(openAPIDocument) || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Errorf("served %d bytes as %q", rec.Body.Len(), rec.Header().Get("Content-Type"))
	}
}

// TestOpenAPIRefs: every $ref points at something in the document.
func TestOpenAPIRefs(t *testing.T) {
	var doc map[string]any
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatal(err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if k == "$ref" {
					if !resolves(doc, x.(string)) {
						t.Errorf("$ref %s does not resolve", x)
					}
					continue
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
}

func resolves(doc map[string]any, ref string) bool {
	var cur any = doc
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[part]; !ok {
			return false
		}
	}
	return true
}

// TestOpenAPIErrorCodes: every error code of errors.go is documented with
// its status, and more_info points at it.
func TestOpenAPIErrorCodes(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "errors.go", nil, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	type code struct{ value, status int }
	codes := map[string]code{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			v := s.(*ast.ValueSpec)
			if !strings.HasPrefix(v.Names[0].Name, "code") || v.Comment == nil {
				continue
			}
			value, _ := strconv.Atoi(v.Values[0].(*ast.BasicLit).Value)
			status, _ := strconv.Atoi(strings.TrimSpace(v.Comment.Text())[:3])
			codes[v.Names[0].Name] = code{value, status}
		}
	}
	documented := loadOpenAPI(t).Components.ErrorCodes
	if len(codes) < 15 || len(documented) != len(codes) {
		t.Errorf("%d codes in errors.go, %d documented", len(codes), len(documented))
	}
	for name, c := range codes {
		d, ok := documented[strconv.Itoa(c.value)]
		if !ok {
			t.Errorf("%s (%d) is not in x-error-codes", name, c.value)
		} else if d.Status != c.status {
			t.Errorf("%s (%d): documented status %d, errors.go says %d", name, c.value, d.Status, c.status)
		}
	}
}

// TestOpenAPISchemas: the documented schemas have the fields the Go types
// encode, no more, no less.
func TestOpenAPISchemas(t *testing.T) {
	schemas := loadOpenAPI(t).Components.Schemas
	tests := []struct {
		schema string
		value  any
		except []string
	}{
		{"Bin", binResource{}, nil},
		{"BinList", binList{}, nil},
		{"BinCreate", binRequest{}, nil},
		{"BinUpdate", binRequest{}, nil},
		{"Diagnostic", engine.Diagnostic{}, nil},
		{"BinPreviewRequest", binPreviewRequest{}, nil},
		{"DraftPreviewRequest", draftPreviewRequest{}, nil},
		{"PreviewResult", previewResult{}, nil},
		{"ValidateRequest", validateRequest{}, nil},
		{"Validation", validation{}, nil},
		{"Revision", revisionResource{}, nil},
		{"RevisionList", revisionList{}, nil},
		{"Event", event{}, nil},
		{"EventList", eventList{}, nil},
		{"Usage", usage{}, nil},
		{"Account", accountResource{}, []string{"auth_token"}},
		{"AccountCreated", accountResource{}, nil},
		{"AccountUpdate", accountRequest{}, nil},
		{"SignupRequest", signupRequest{}, nil},
		{"Credentials", credentials{}, nil},
		{"Health", health{}, nil},
		{"Error", Error{}, nil},
	}
	for _, tt := range tests {
		s, ok := schemas[tt.schema]
		if !ok {
			t.Errorf("no schema %s", tt.schema)
			continue
		}
		var want []string
		typ := reflect.TypeOf(tt.value)
		for i := range typ.NumField() {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			if name != "" && name != "-" && !slices.Contains(tt.except, name) {
				want = append(want, name)
			}
		}
		var got []string
		for name := range s.Properties {
			got = append(got, name)
		}
		sort.Strings(want)
		sort.Strings(got)
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("schema %s has %v; %s encodes %v", tt.schema, got, typ, want)
		}
	}
}
