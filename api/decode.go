package api

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/twimlbin/twimlbin/store"
)

// decode reads a request body into dst, a pointer to a struct whose fields
// carry json tags. The body is JSON (unknown fields refused) or
// form-encoded, as Twilio's API takes it, with the same field names; an
// empty body sets nothing. Form values fill fields of type *string, *int,
// *bool, or of a type whose pointer is an encoding.TextUnmarshaler.
func decode(c echo.Context, dst any) error {
	req := c.Request()
	body, err := io.ReadAll(req.Body)
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return err
		}
		return newError(http.StatusBadRequest, codeBadBody, "The request body could not be read.")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	mediaType, _, _ := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType))
	switch mediaType {
	case echo.MIMEApplicationJSON:
		return decodeJSON(body, dst)
	case echo.MIMEApplicationForm:
		values, err := url.ParseQuery(string(body))
		if err != nil {
			return newError(http.StatusBadRequest, codeBadBody, "The form-encoded body is malformed.")
		}
		return decodeForm(values, dst)
	}
	return newError(http.StatusUnsupportedMediaType, codeUnsupportedMedia,
		"Send the body as application/json or application/x-www-form-urlencoded.")
}

func decodeJSON(body []byte, dst any) error {
	if name, ok := inexactField(body, dst); ok {
		return newError(http.StatusBadRequest, codeUnknownField, fmt.Sprintf("Unknown field %q; field names are lower case, as documented.", name))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil && dec.More() {
		err = errors.New("data after the JSON object")
	}
	if err == nil {
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field != "" {
		return errInvalidParameter(fmt.Sprintf("%s must be a %s.", typeErr.Field, typeName(typeErr.Type)))
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return newError(http.StatusBadRequest, codeUnknownField, "Unknown field "+name+".")
	}
	var paramErr *Error
	if errors.As(err, &paramErr) {
		return paramErr
	}
	return newError(http.StatusBadRequest, codeBadBody, "The JSON body is malformed: "+jsonProblem(err)+".")
}

// inexactField returns a top-level field of a JSON object that is not
// spelled exactly as one of dst's json tags. encoding/json matches names
// without regard to case, so {"Template": …} would otherwise be read as
// template, and a body holding both spellings would keep the last one.
func inexactField(body []byte, dst any) (string, bool) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) != nil {
		return "", false // not an object: Decode reports what is wrong
	}
	t := reflect.TypeOf(dst)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return "", false
	}
	tags := make(map[string]bool, t.NumField())
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "" {
			name = t.Field(i).Name
		}
		tags[name] = true
	}
	for name := range fields {
		if !tags[name] {
			return name, true
		}
	}
	return "", false
}

// jsonProblem says what is wrong with a JSON body without echoing it.
func jsonProblem(err error) string {
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &syntaxErr):
		return "syntax error at byte " + strconv.FormatInt(syntaxErr.Offset, 10)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "it ends too early"
	case errors.As(err, new(*json.UnmarshalTypeError)):
		return "it is not an object"
	}
	return "it is not one JSON object"
}

func typeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Int, reflect.Int64:
		return "number"
	case reflect.Bool:
		return "boolean"
	case reflect.Map, reflect.Struct:
		return "object"
	}
	return t.String()
}

var textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()

// decodeForm fills dst's fields from form values by their json names.
func decodeForm(values url.Values, dst any) error {
	v := reflect.ValueOf(dst).Elem()
	t := v.Type()
	fields := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			fields[name] = i
		}
	}
	for name, vals := range values {
		i, ok := fields[name]
		if !ok {
			return newError(http.StatusBadRequest, codeUnknownField, fmt.Sprintf("Unknown field %q.", name))
		}
		if len(vals) != 1 {
			return errInvalidParameter(name + " is given more than once.")
		}
		if err := setField(v.Field(i), name, vals[0]); err != nil {
			return err
		}
	}
	return nil
}

func setField(f reflect.Value, name, s string) error {
	if f.CanAddr() && f.Addr().Type().Implements(textUnmarshalerType) {
		return f.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s))
	}
	if f.Kind() != reflect.Pointer {
		return fmt.Errorf("api: form field %s has unsupported type %s", name, f.Type())
	}
	p := reflect.New(f.Type().Elem())
	switch e := p.Elem(); e.Kind() {
	case reflect.String:
		e.SetString(s)
	case reflect.Int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return errInvalidParameter(name + " must be a number.")
		}
		e.SetInt(int64(n))
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return errInvalidParameter(name + " must be true or false.")
		}
		e.SetBool(b)
	default:
		return fmt.Errorf("api: form field %s has unsupported type %s", name, f.Type())
	}
	f.Set(p)
	return nil
}

// params are request parameters as the bin URL receives them, name to
// values. In JSON they are an object whose values are strings or arrays of
// strings; in a form they are one field holding a query string
// ("From=%2B15551234567&Digits=1").
type params map[string][]string

// UnmarshalJSON reads {"name": "value", "name": ["v1", "v2"]}.
func (p *params) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return errInvalidParameter("params must be an object of names to strings or arrays of strings.")
	}
	out := make(params, len(raw))
	for name, v := range raw {
		var one string
		if err := json.Unmarshal(v, &one); err == nil {
			out[name] = []string{one}
			continue
		}
		var many []string
		if err := json.Unmarshal(v, &many); err != nil {
			return errInvalidParameter(fmt.Sprintf("params: %q must be a string or an array of strings.", name))
		}
		out[name] = many
	}
	*p = out
	return nil
}

// UnmarshalText reads a query string, for form-encoded bodies.
func (p *params) UnmarshalText(b []byte) error {
	v, err := url.ParseQuery(string(b))
	if err != nil {
		return errInvalidParameter("params must be a query string, such as From=%2B15551234567&Digits=1.")
	}
	*p = params(v)
	return nil
}

// checkFriendlyName refuses a friendly_name that store.CheckFriendlyName
// refuses, saying why.
func checkFriendlyName(name *string) error {
	if name == nil {
		return nil
	}
	if err := store.CheckFriendlyName(*name); err != nil {
		return friendlyNameError(err)
	}
	return nil
}

// friendlyNameError is the 400 of a name store.CheckFriendlyName refused.
func friendlyNameError(err error) *Error {
	var fe *store.FriendlyNameError
	if !errors.As(err, &fe) {
		return errInvalidParameter("friendly_name is not allowed.")
	}
	return errInvalidParameter("friendly_name " + fe.Problem + ".")
}
