package push

import (
	"encoding/json"
	"testing"
)

// FuzzPutRule feeds client input (kind, rule ID, body, before/after) to the
// rule editor: it must never panic, and whatever it stores must read back
// with .m.rule.master still first and every server default still there.
func FuzzPutRule(f *testing.F) {
	f.Add("content", "cake", `{"actions":["notify"],"pattern":"cake*"}`, "", "")
	f.Add("override", "x", `{"actions":[],"conditions":[{"kind":"event_match","key":"type","pattern":"m.*"}]}`, "", "nope")
	f.Add("room", "!r:ward.test", `{"actions":["dont_notify",{"set_tweak":"sound"}]}`, "a", "b")
	f.Add("underride", ".m.rule.message", `{"actions":[]}`, "", "")
	f.Fuzz(func(t *testing.T, kind, ruleID, body, before, after string) {
		if !ValidKind(kind) {
			return
		}
		var b RuleBody
		if json.Unmarshal([]byte(body), &b) != nil {
			return
		}
		r := load("@alice:ward.test", nil)
		_ = r.put(Kind(kind), "first", RuleBody{Actions: []json.RawMessage{notify}, Pattern: new(string)}, "", "")
		_ = r.put(Kind(kind), ruleID, b, before, after)
		stored, err := r.content()
		if err != nil {
			t.Fatal(err)
		}
		back := load("@alice:ward.test", stored).merged()
		if back.Override[0].RuleID != masterRuleID {
			t.Fatalf("master not first: %s", stored)
		}
		defs := Defaults("@alice:ward.test")
		if n := len(back.Underride); n < len(defs.Underride) {
			t.Fatalf("defaults lost: %s", stored)
		}
	})
}
