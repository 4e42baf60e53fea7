package api

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/twimlbin/twimlbin/templates"
)

// benchRequest is the contextual-calling bin's request as Twilio makes it:
// the backend's parameters in the query string, Twilio's in the form body.
type benchRequest struct {
	query string
	form  string
}

func contextualCall(b *testing.B) (templates.Entry, benchRequest) {
	b.Helper()
	entry, ok := templates.Get("client-contextual-call")
	if !ok {
		b.Fatal("no client-contextual-call in the gallery")
	}
	query, form := url.Values{}, url.Values{}
	for name, values := range entry.Params {
		switch name {
		case "displayName", "customerID", "selectedProductID":
			query[name] = values
		default:
			form[name] = values
		}
	}
	return entry, benchRequest{query: query.Encode(), form: form.Encode()}
}

// benchEnv is a server over a database holding the contextual-calling bin,
// with /static answering the bin's output.
func benchEnv(b *testing.B) (*env, string, benchRequest) {
	b.Helper()
	entry, r := contextualCall(b)
	t := &testing.T{}
	e := &env{t: t, path: b.TempDir() + "/bench.db", cfg: Config{StaticBody: []byte(entry.Golden)}}
	e.open()
	b.Cleanup(func() { e.db.Close() })
	u := e.newUser("bench")
	bin, err := e.db.CreateBin(u.sid, storeInput("bench", entry.Template, "strict"))
	if err != nil {
		b.Fatal(err)
	}
	// Check that the bin answers the golden output before timing it.
	rec := serveBench(e.srv.Handler(), "/twiml/"+bin.SID, r)
	if rec.Code != http.StatusOK || rec.Body.String() != entry.Golden {
		b.Fatalf("bin answers %d %q, want the golden %q", rec.Code, rec.Body, entry.Golden)
	}
	return e, bin.SID, r
}

func serveBench(h http.Handler, path string, r benchRequest) *httptest.ResponseRecorder {
	hr := httptest.NewRequest("POST", path+"?"+r.query, strings.NewReader(r.form))
	hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, hr)
	return rec
}

func benchmarkPath(b *testing.B, static bool, parallel bool) {
	e, sid, r := benchEnv(b)
	path := "/twiml/" + sid
	if static {
		path = "/static"
	}
	h := e.srv.Handler()
	b.ReportAllocs()
	b.ResetTimer()
	if !parallel {
		for b.Loop() {
			if rec := serveBench(h, path, r); rec.Code != http.StatusOK {
				b.Fatalf("status %d", rec.Code)
			}
		}
		return
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if rec := serveBench(h, path, r); rec.Code != http.StatusOK {
				b.Errorf("status %d", rec.Code)
				return
			}
		}
	})
}

// BenchmarkBinURL serves the contextual-calling bin through the router and
// every middleware, as Twilio requests it (query and form parameters).
func BenchmarkBinURL(b *testing.B) { benchmarkPath(b, false, false) }

// BenchmarkStatic serves the same bytes through the same router and
// middleware with no store or template work: the overhead BenchmarkBinURL
// adds is the difference.
func BenchmarkStatic(b *testing.B) { benchmarkPath(b, true, false) }

// BenchmarkBinURLParallel is BenchmarkBinURL from GOMAXPROCS goroutines.
func BenchmarkBinURLParallel(b *testing.B) { benchmarkPath(b, false, true) }

// BenchmarkStaticParallel is BenchmarkStatic from GOMAXPROCS goroutines.
func BenchmarkStaticParallel(b *testing.B) { benchmarkPath(b, true, true) }
