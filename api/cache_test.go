package api

import (
	"fmt"
	"testing"

	"github.com/twimlbin/twimlbin/store"
)

func TestTemplateCache(t *testing.T) {
	m := newMetrics(nil)
	tc := newTemplateCache(3, m)
	bin := func(i, rev int) store.Bin {
		return store.Bin{SID: fmt.Sprintf("EH%032d", i), Revision: rev, RenderPolicy: "strict",
			Template: fmt.Sprintf("<Response><Say>%d.%d {{x}}</Say></Response>", i, rev)}
	}
	first, err := tc.get(bin(1, 1))
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := tc.get(bin(1, 1)); again != first {
		t.Error("a second get compiled again")
	}
	// Another revision is a miss, and replaces the entry.
	second, _ := tc.get(bin(1, 2))
	if second == first || second.revision != 2 {
		t.Errorf("revision 2 got %+v", second)
	}
	out, _, _ := second.tmpl.Render(nil, second.policy)
	if string(out) != "<Response><Say>1.2 </Say></Response>" {
		t.Errorf("revision 2 renders %s", out)
	}
	// Bounded.
	for i := 2; i <= 10; i++ {
		tc.get(bin(i, 1))
	}
	if n := tc.size.Load(); n != 3 {
		t.Errorf("size %d, want 3", n)
	}
	count := 0
	tc.entries.Range(func(any, any) bool { count++; return true })
	if count != 3 {
		t.Errorf("%d entries, want 3", count)
	}
	// peek does not keep what it compiles.
	if _, err := tc.peek(bin(99, 1)); err != nil {
		t.Fatal(err)
	}
	if _, ok := tc.entries.Load(bin(99, 1).SID); ok {
		t.Error("peek kept its template")
	}
	tc.remove(bin(10, 1).SID)
	if _, ok := tc.entries.Load(bin(10, 1).SID); ok || tc.size.Load() != 2 {
		t.Errorf("remove: size %d", tc.size.Load())
	}
	// A template that no longer compiles is an error, not a panic.
	if _, err := tc.get(store.Bin{SID: "EH" + fmt.Sprintf("%032d", 50), Revision: 1, RenderPolicy: "lenient", Template: "<Response>"}); err == nil {
		t.Error("a broken template compiled")
	}
}
