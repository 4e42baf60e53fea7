package api

import (
	"maps"
	"net/url"
	"reflect"
	"slices"
	"testing"
)

func TestBinParams(t *testing.T) {
	vars := newVarSet([]string{"From", "name", "Digits", "a b", "é"})
	tests := []struct {
		name        string
		query, body string
		want        map[string][]string
	}{
		{"query only", "name=Ada&other=x", "", map[string][]string{"name": {"Ada"}}},
		{"body only", "", "From=%2B15551234567&CallSid=CA1", map[string][]string{"From": {"+15551234567"}}},
		{"body wins", "name=Query&From=%2B1", "name=Body", map[string][]string{"name": {"Body"}, "From": {"+1"}}},
		{"lists", "Digits=1&Digits=2", "", map[string][]string{"Digits": {"1", "2"}}},
		{"body list replaces query list", "Digits=1&Digits=2", "Digits=3", map[string][]string{"Digits": {"3"}}},
		{"brackets", "Digits[]=1&Digits[]=2", "", map[string][]string{"Digits": {"1", "2"}}},
		{"a name without brackets wins", "Digits[]=1&Digits=2", "Digits[]=3", map[string][]string{"Digits": {"2"}}},
		{"brackets in the body only", "From=%2B1", "Digits[]=3", map[string][]string{"From": {"+1"}, "Digits": {"3"}}},
		{"escaped names", "a+b=1&%C3%A9=2&n%61me=3", "", map[string][]string{"a b": {"1"}, "é": {"2"}, "name": {"3"}}},
		{"plus and escapes in values", "name=a+b%26c%3Dd", "", map[string][]string{"name": {"a b&c=d"}}},
		{"no value", "name&From=", "", map[string][]string{"name": {""}, "From": {""}}},
		{"empty pairs", "&&name=x&&", "", map[string][]string{"name": {"x"}}},
		{"bad escape skipped", "name=%zz&From=1", "", map[string][]string{"From": {"1"}}},
		{"semicolon skipped", "name;x=1&From=2&name=a;b", "", map[string][]string{"From": {"2"}}},
		{"nothing", "", "", map[string][]string{}},
	}
	// One params for every case, recycled in between as the bin URL does.
	p := getParams()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := vars.slotMap(vars.binParams(tt.query, nil, tt.body, p)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			putParams(p)
			p = getParams()
		})
	}
	// A parsed form (signature checked) gives the same.
	form, _ := url.ParseQuery("name=Body&CallSid=CA1")
	if got, want := vars.slotMap(vars.binParams("name=Query", form, "", p)), map[string][]string{"name": {"Body"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("parsed form: got %v, want %v", got, want)
	}
}

// TestBinParamsReadBothSpellings: a template that reads both X and X[]
// gets a parameter "X[]" as the values of X[] and, when there is no X,
// of X.
func TestBinParamsReadBothSpellings(t *testing.T) {
	vars := newVarSet([]string{"X", "X[]"})
	p := getParams()
	defer putParams(p)
	got := vars.slotMap(vars.binParams("X[]=1&X[][]=2", nil, "", p))
	if want := map[string][]string{"X": {"1"}, "X[]": {"1"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

// slotMap returns the slots binParams resolved as a map from the name of
// each to its values, leaving out names with none.
func (s varSet) slotMap(slots [][]string) map[string][]string {
	m := map[string][]string{}
	for i, values := range slots {
		if values != nil {
			m[s.names[i]] = values
		}
	}
	return m
}

// FuzzAddParams: for the names a template reads, appendParams decodes
// what url.ParseQuery decodes, into the slot of each name and, for a name
// X[], into the brackets' slot of X.
func FuzzAddParams(f *testing.F) {
	for _, seed := range []string{"a=1&b=2", "a=%41&a=+", "a%3D=1", "a;b=1&a=2", "&&a", "%zz=1&a=%z", "a[]=1&a=2&a[]=3"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		want, _ := url.ParseQuery(raw)
		names := slices.Sorted(maps.Keys(want))
		vars := newVarSet(names)
		p := getParams()
		defer putParams(p)
		vars.binParams(raw, nil, "", p)
		n := len(names)
		for i, name := range names {
			if got := p.slots[fromQuery*n+i]; !reflect.DeepEqual(got, want[name]) {
				t.Errorf("appendParams(%q): %q = %q, url.ParseQuery: %q", raw, name, got, want[name])
			}
			if got := p.slots[(fromQuery+1)*n+i]; !reflect.DeepEqual(got, want[name+"[]"]) {
				t.Errorf("appendParams(%q): %q[] = %q, url.ParseQuery: %q", raw, name, got, want[name+"[]"])
			}
		}
	})
}
