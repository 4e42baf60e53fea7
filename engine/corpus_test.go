package engine_test

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/twimlbin/twimlbin/engine"
)

// The corpus is real TwiML written by others (the helper libraries' unit
// tests), sorted by the project's reference material into valid/,
// invalid/, placeholder/ and questionable/; see ../shared/twiml/README.md.
// It lives outside the module, so these tests skip where it is absent.

// corpusDir returns the corpus folder, from $TWIML_CORPUS or beside the
// project, or skips the test.
func corpusDir(t *testing.T) string {
	t.Helper()
	var looked []string
	if env := os.Getenv("TWIML_CORPUS"); env != "" {
		looked = append(looked, env)
	}
	looked = append(looked, filepath.Join("..", "..", "shared", "twiml", "corpus"))
	for _, dir := range looked {
		if fi, err := os.Stat(filepath.Join(dir, "valid")); err == nil && fi.IsDir() {
			return dir
		}
	}
	t.Skipf("TwiML corpus not found: looked in %s (set TWIML_CORPUS to the corpus folder to run these tests)",
		strings.Join(looked, " and "))
	return ""
}

// corpusFile is one document of the corpus and its line in NOTES.tsv.
type corpusFile struct {
	name string
	src  string
	note string
}

// readCorpus reads the documents of one folder, sorted by name, with their
// notes. It fails when the folder is empty or when NOTES.tsv and the
// folder disagree.
func readCorpus(t *testing.T, folder string) []corpusFile {
	t.Helper()
	dir := filepath.Join(corpusDir(t), folder)
	paths, err := filepath.Glob(filepath.Join(dir, "*.xml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatalf("%s holds no .xml files", dir)
	}
	sort.Strings(paths)
	notes := readNotes(t, filepath.Join(dir, "NOTES.tsv"))
	var files []corpusFile
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(p)
		note, ok := notes[name]
		if !ok && notes != nil {
			t.Errorf("%s/%s has no line in NOTES.tsv", folder, name)
		}
		delete(notes, name)
		files = append(files, corpusFile{name: name, src: string(b), note: note})
	}
	for name := range notes {
		t.Errorf("%s/NOTES.tsv names %s, which is not in the folder", folder, name)
	}
	return files
}

// readNotes reads NOTES.tsv: "file<TAB>why" lines, '#' comments. It returns
// nil when the folder has none.
func readNotes(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	notes := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, why, ok := strings.Cut(line, "\t")
		if !ok {
			t.Fatalf("%s: line without a tab: %q", path, line)
		}
		notes[name] = strings.TrimSpace(why)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return notes
}

func codesOf(ds engine.Diagnostics) []engine.Code {
	codes := []engine.Code{}
	for _, d := range ds {
		codes = append(codes, d.Code)
	}
	return codes
}

func listDiagnostics(ds engine.Diagnostics) string {
	if len(ds) == 0 {
		return "  (none)"
	}
	var b strings.Builder
	for _, d := range ds {
		b.WriteString("\n  ")
		b.WriteString(d.String())
	}
	return b.String()
}

// validFindings lists every finding the engine makes on a file of valid/,
// in source order, and why it is right. valid/ was sorted by the helper
// libraries' vocabulary; these files break a rule of Twilio's own that
// ../shared/twiml/facts.md records. Any other finding on a valid file
// fails the test.
var validFindings = map[string]struct {
	codes []engine.Code
	why   string
}{
	"libtest-node-VoiceResponse-spec-L84.xml": {[]engine.Code{engine.CodeValueType},
		`finishOnKey="abcd": <Gather finishOnKey> is one of 0-9, # and * or empty (facts.md, <Gather>; error 13310). A warning: Twilio ignores the value and uses #`},
	"libtest-python-test_voice_response-L459.xml": {[]engine.Code{engine.CodeSipURI},
		`<Sip>foo@example.com</Sip> is not a SIP URI: the text of <Sip> is sip:user@host (facts.md, <Sip>: "must be a valid SIP URI"); the library test checks serialization only`},
	"libtest-python-test_voice_response-L471.xml": {[]engine.Code{engine.CodeSipURI},
		`<Sip>foo@example.com</Sip> is not a SIP URI: the text of <Sip> is sip:user@host (facts.md, <Sip>)`},
	"libhist-python-test_twiml-30a6b58-L448.xml": {[]engine.Code{engine.CodeSipURI},
		`<Uri>foo@example.com</Uri> is not a SIP URI: the text of <Uri> is a SIP URI (facts.md, <Uri>)`},
	"libhist-python-test_twiml-4f7414a-L520.xml": {[]engine.Code{engine.CodeSipURI},
		`<Uri>foo@example.com</Uri> is not a SIP URI: the text of <Uri> is a SIP URI (facts.md, <Uri>)`},
}

func TestCorpusValid(t *testing.T) {
	files := readCorpus(t, "valid")
	for _, f := range files {
		t.Run(f.name, func(t *testing.T) {
			ds := engine.Check(f.src)
			want, flagged := validFindings[f.name]
			if !flagged {
				if len(ds) > 0 {
					t.Fatalf("a valid document got findings:%s", listDiagnostics(ds))
				}
			} else if got := codesOf(ds); !slices.Equal(got, want.codes) {
				t.Fatalf("findings %v, want %v (%s):%s", got, want.codes, want.why, listDiagnostics(ds))
			}
			if ds.HasErrors() {
				return
			}
			// A template without tags renders exactly as written.
			tmpl, err := engine.Compile(f.src)
			if err != nil {
				t.Fatalf("Check found no error, Compile: %v", err)
			}
			for _, p := range []engine.Policy{engine.Lenient, engine.Strict} {
				out, rds, err := tmpl.Render(nil, p)
				if err != nil || len(rds) > 0 {
					t.Fatalf("Render(%s) = %v, findings:%s", p, err, listDiagnostics(rds))
				}
				if string(out) != f.src {
					t.Errorf("Render(%s) changed the document:\n got %q\nwant %q", p, out, f.src)
				}
			}
		})
	}
	for name := range validFindings {
		if !slices.ContainsFunc(files, func(f corpusFile) bool { return f.name == name }) {
			t.Errorf("validFindings names %s, which is not in valid/", name)
		}
	}
}

// A note of invalid/ or placeholder/ is one or more findings joined by
// " | ", some after a sentence of explanation. Each kind says where the
// finding is, and the test looks for a diagnostic there.
var (
	noteLine      = regexp.MustCompile(`not well-formed: [^|]*: line (\d+), column \d+`)
	noteText      = regexp.MustCompile(`STRUCT: \S+: text content not allowed in <([^>]+)>`)
	noteElem      = regexp.MustCompile(`STRUCT: \S+: <([^>]+)> not allowed inside <([^>]+)>`)
	noteAttr      = regexp.MustCompile(`ATTR: \S+: unknown attribute '([^']+)'`)
	noteEmpty     = regexp.MustCompile(`TEXT: \S+: <([^>]+)> (?:is empty|has no text)`)
	noteValue     = regexp.MustCompile(`VALUE: (?:\S+/)?([^/\s@]+@[^:\s]+): value '([^']*)'`)
	emptyCodes    = []engine.Code{engine.CodeTextRequired, engine.CodeSayEmpty, engine.CodeMessageBody}
	placeholderOK = []engine.Code{engine.CodeValueType, engine.CodeValueRange, engine.CodeEnumValue, engine.CodeSchema, engine.CodeDialCallerID}
)

// noteLineMoved gives, for a note whose line comes from a namespace-aware
// parser, the line of the first error a namespace-unaware parser finds, and
// why: Twilio reads TwiML without namespaces (facts.md, section 1), so an
// unbound prefix is not its error.
var noteLineMoved = map[string]struct {
	line int
	why  string
}{
	"libhist-ruby-messaging_response_spec-faab1c5-L39.xml": {4,
		"the note's line 2 is an unbound prefix (custom:message); read without namespaces, the document first fails at </amazon:alexa> on line 4, which does not match <custom:message>"},
}

// expectation is one finding a note asks for.
type expectation struct {
	what  string // the note's words
	match func(engine.Diagnostic) bool
}

// noteExpectations turns a note into the findings it asks for.
func noteExpectations(name, src, note string) []expectation {
	var exps []expectation
	for _, m := range noteLine.FindAllStringSubmatch(note, -1) {
		line, _ := strconv.Atoi(m[1])
		if moved, ok := noteLineMoved[name]; ok {
			line = moved.line
		}
		exps = append(exps, expectation{m[0], func(d engine.Diagnostic) bool { return d.Line == line }})
	}
	for _, m := range noteText.FindAllStringSubmatch(note, -1) {
		tag := "<" + m[1] + ">"
		exps = append(exps, expectation{m[0], func(d engine.Diagnostic) bool {
			return d.Code == engine.CodeTextNotAllowed && strings.Contains(d.Message, tag)
		}})
	}
	for _, m := range noteElem.FindAllStringSubmatch(note, -1) {
		tag, lines := "<"+m[1]+">", tagLines(src, m[1])
		exps = append(exps, expectation{m[0], func(d engine.Diagnostic) bool {
			return d.Severity == engine.SeverityError && strings.Contains(d.Message, tag) && lines[d.Line]
		}})
	}
	for _, m := range noteAttr.FindAllStringSubmatch(note, -1) {
		attr, lines := m[1], attrLines(src, m[1])
		exps = append(exps, expectation{m[0], func(d engine.Diagnostic) bool {
			return d.Code == engine.CodeSchema && strings.Contains(d.Message, "attribute "+attr+";") && lines[d.Line]
		}})
	}
	for _, m := range noteEmpty.FindAllStringSubmatch(note, -1) {
		tag, lines := "<"+m[1]+">", tagLines(src, m[1])
		exps = append(exps, expectation{m[0], func(d engine.Diagnostic) bool {
			return slices.Contains(emptyCodes, d.Code) && strings.Contains(d.Message, tag) && lines[d.Line]
		}})
	}
	for _, m := range noteValue.FindAllStringSubmatch(note, -1) {
		slot, val := m[1], m[2]
		exps = append(exps, expectation{m[0], func(d engine.Diagnostic) bool {
			return strings.Contains(d.Message, slot) && strings.Contains(d.Message, `"`+val+`"`)
		}})
	}
	return exps
}

// tagLines returns the lines on which a start tag <name …> begins.
func tagLines(src, name string) map[int]bool {
	return matchLines(src, regexp.MustCompile(`<`+regexp.QuoteMeta(name)+`[\s/>]`))
}

// attrLines returns the lines on which an attribute name= is written.
func attrLines(src, name string) map[int]bool {
	return matchLines(src, regexp.MustCompile(`\s`+regexp.QuoteMeta(name)+`\s*=`))
}

func matchLines(src string, re *regexp.Regexp) map[int]bool {
	lines := map[int]bool{}
	for _, loc := range re.FindAllStringIndex(src, -1) {
		lines[1+strings.Count(src[:loc[0]+1], "\n")] = true
	}
	return lines
}

func TestCorpusInvalid(t *testing.T) {
	for _, f := range readCorpus(t, "invalid") {
		t.Run(f.name, func(t *testing.T) {
			ds := engine.Check(f.src)
			if len(ds) == 0 {
				t.Fatalf("no finding; NOTES.tsv: %s", f.note)
			}
			exps := noteExpectations(f.name, f.src, f.note)
			if len(exps) == 0 {
				t.Fatalf("the test cannot read this note; teach noteExpectations its form: %s", f.note)
			}
			for _, e := range exps {
				if !slices.ContainsFunc(ds, e.match) {
					t.Errorf("no diagnostic for %q; got:%s", e.what, listDiagnostics(ds))
				}
			}
		})
	}
}

func TestCorpusPlaceholder(t *testing.T) {
	for _, f := range readCorpus(t, "placeholder") {
		t.Run(f.name, func(t *testing.T) {
			ds := engine.Check(f.src)
			if ds.HasErrors() {
				t.Fatalf("placeholders are values, not structure, yet the document has errors:%s", listDiagnostics(ds))
			}
			if !slices.ContainsFunc(ds, func(d engine.Diagnostic) bool { return slices.Contains(placeholderOK, d.Code) }) {
				t.Errorf("no value warning (one of %v); got:%s", placeholderOK, listDiagnostics(ds))
			}
			for _, e := range noteExpectations(f.name, f.src, f.note) {
				if !slices.ContainsFunc(ds, e.match) {
					t.Errorf("no diagnostic for %q; got:%s", e.what, listDiagnostics(ds))
				}
			}
		})
	}
}

// questionableOutcomes is what the engine does with each document of
// questionable/: real documents that conflict with Twilio's documentation
// or the helper libraries. The codes are the findings in source order; all
// are warnings, since every one of these documents is well-formed TwiML
// that Twilio runs. testdata/corpus-questionable.md explains the choices.
var questionableOutcomes = map[string]struct {
	codes []engine.Code
	why   string
}{
	// An element whose text the libraries require, left empty.
	"libtest-python-test_voice_response-L210.xml":  {[]engine.Code{engine.CodeTextRequired}, "<Redirect/> has no URL to go to"},
	"libtest-python-test_voice_response-L276.xml":  {[]engine.Code{engine.CodeTextRequired}, "<Sms/> has no message"},
	"libtest-csharp-MessagingResponseTest-L52.xml": {[]engine.Code{engine.CodeTextRequired}, "<Body></Body> is an empty body"},
	"libtest-csharp-VoiceResponseTest-L52.xml":     {[]engine.Code{engine.CodeTextRequired}, "<Room></Room> names no room"},

	// An element whose text the libraries make optional, but which does
	// nothing without it.
	"libtest-python-test_voice_response-L54.xml": {[]engine.Code{engine.CodeSayEmpty}, "<Say/>: Twilio's own warning 13520"},
	"libtest-python-test_voice_response-L127.xml": {[]engine.Code{engine.CodeTextRequired},
		"<Play/> has neither a URL nor digits"},
	"libhist-csharp-GatherTest-88a62dc-L22.xml": {[]engine.Code{engine.CodeTextRequired},
		"<Play/> inside <Gather> has neither a URL nor digits"},
	"libhist-python-test_twiml-4f7414a-L527.xml": {[]engine.Code{engine.CodeTextRequired}, "<Dial/> has nothing to dial"},
	"libtest-python-test_voice_response-L542.xml": {[]engine.Code{engine.CodeTextRequired},
		"<Client/> has no identity, as text or <Identity>"},
	"libtest-node-VoiceResponse-spec-L208.xml": {[]engine.Code{engine.CodeTextRequired},
		"<Enqueue> with a <Task> but neither a queue name nor workflowSid: the Task needs TaskRouter's workflowSid"},
	"libtest-java-MessagingResponseTest-L199.xml": {[]engine.Code{engine.CodeMessageBody},
		"<Message/> has no body and no media: Twilio's 14103"},
	"libtest-node-MessagingResponse-spec-L41.xml": {[]engine.Code{engine.CodeMessageBody},
		"the second <Message/> has no body and no media: Twilio's 14103"},
	"libhist-java-MessagingResponseTest-cb1d7f3-L19.xml": {[]engine.Code{engine.CodeMessageBody, engine.CodeTextRequired},
		"<Message/> without body (14103), <Redirect/> without URL"},
	"libhist-java-MessagingResponseTest-fc5a563-L18.xml": {[]engine.Code{engine.CodeTextRequired, engine.CodeMessageBody},
		"<Redirect/> without URL, <Message/> without body (14103)"},
	"libhist-java-VoiceResponseTest-c2a06d1-L30.xml": {[]engine.Code{engine.CodeTextRequired, engine.CodeTextRequired},
		"<Redirect/> without URL, <Dial/> with nothing to dial; <Gather/>, <Record/> and the rest take no text"},
	"libhist-java-VoiceResponseTest-cb1d7f3-L29.xml": {[]engine.Code{engine.CodeTextRequired, engine.CodeTextRequired},
		"<Dial/> with nothing to dial, <Redirect/> without URL"},
	"libtest-java-VoiceResponseTest-L533.xml": {[]engine.Code{engine.CodeTextRequired, engine.CodeTextRequired, engine.CodeSayEmpty},
		"<Dial/>, <Enqueue/> and <Say/> are empty; <Connect/>, <Start/>, <Stop/>, <Refer/>, <Pay/>, <Prompt/> take no text and are not checked for children"},

	// An attribute the libraries no longer know.
	"libtest-node-VoiceResponse-spec-L300.xml": {[]engine.Code{engine.CodeSchema},
		"<say-as role> was renamed format in 2022; Twilio reports an unknown attribute as 12200"},

	// An enumeration value in another case.
	"libhist-csharp-VoiceResponseTest-8a95f21-L29.xml": {[]engine.Code{engine.CodeSchema},
		`ringTone="US": the values are lower-case country codes; an open enumeration, so a warning that suggests "us"`},
}

func TestCorpusQuestionable(t *testing.T) {
	files := readCorpus(t, "questionable")
	for _, f := range files {
		t.Run(f.name, func(t *testing.T) {
			want, ok := questionableOutcomes[f.name]
			if !ok {
				t.Fatalf("no expected outcome: read the document and facts.md, decide, and add it to questionableOutcomes (NOTES.tsv: %s)", f.note)
			}
			ds := engine.Check(f.src)
			if ds.HasErrors() {
				t.Errorf("questionable documents are warned about, not refused; got errors:%s", listDiagnostics(ds))
			}
			if got := codesOf(ds); !slices.Equal(got, want.codes) {
				t.Errorf("findings %v, want %v (%s):%s", got, want.codes, want.why, listDiagnostics(ds))
			}
		})
	}
	for name := range questionableOutcomes {
		if !slices.ContainsFunc(files, func(f corpusFile) bool { return f.name == name }) {
			t.Errorf("questionableOutcomes names %s, which is not in questionable/", name)
		}
	}
}
