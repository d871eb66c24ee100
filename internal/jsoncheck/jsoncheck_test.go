package jsoncheck

import (
	"errors"
	"strings"
	"testing"
)

// The cases a tester found to crash the server (floats, big integers,
// duplicate keys, lone surrogates, NUL), each refused with a rule that does
// not repeat the content.
func TestCheck(t *testing.T) {
	canon := Rules{Canonical: true, NoNUL: true}
	cases := []struct {
		in   string
		want error
	}{
		{`{"body":"x","n":1}`, nil},
		{`{"n":-9007199254740991,"m":9007199254740991}`, nil},
		{`{"a":{"b":[1,2,{"c":"\u00e9"}]}}`, nil},
		{`{"body":"x","n":1.5}`, ErrNumber},
		{`{"n":1e3}`, ErrNumber},
		{`{"n":9007199254740993}`, ErrNumber},
		{`{"n":123456789012345678901234567890}`, ErrNumber},
		{`{"a":1,"a":2}`, ErrDuplicate},
		{`{"body":"\ud83d Patient Jane Roe"}`, ErrString},
		{`{"body":"nul\u0000here"}`, ErrNUL},
		{`{"nul\u0000key":1}`, ErrNUL},
		{`{"body":"back\\u0000slash"}`, nil},
		{`{"body":`, ErrSyntax},
	}
	for _, c := range cases {
		err := Check([]byte(c.in), canon)
		if !errors.Is(err, c.want) {
			t.Errorf("Check(%s) = %v, want %v", c.in, err, c.want)
		}
		if err != nil && (strings.Contains(err.Error(), "Jane") || strings.Contains(err.Error(), "here")) {
			t.Errorf("error repeats content: %v", err)
		}
	}
	// ValidStrings alone: lone surrogates anywhere (values, keys, nested,
	// high or low half, at the end) are refused; pairs and floats are not.
	strs := Rules{NoNUL: true, ValidStrings: true}
	for _, in := range []string{`{"displayname":"x\ud800y"}`, `{"a":["\udc00"]}`, `{"k\udbff":1}`,
		`{"a":{"b":"\ud83d\u0041"}}`, `{"a":"\udfff\ud83d"}`, `{"a":"end\ud83d"}`, "{\"a\":\"\xff\"}"} {
		if err := Check([]byte(in), strs); !errors.Is(err, ErrString) {
			t.Errorf("Check(%s) = %v, want %v", in, err, ErrString)
		}
	}
	for _, in := range []string{`{"a":"\ud83d\ude00","n":1.5}`, `{"a":"\ufffd\u00e9"}`} {
		if err := Check([]byte(in), strs); err != nil {
			t.Errorf("Check(%s) = %v, want nil", in, err)
		}
	}
	// Only NUL: floats are fine outside events.
	if err := Check([]byte(`{"n":1.5,"a":1,"a":2}`), Rules{NoNUL: true}); err != nil {
		t.Errorf("NoNUL alone refused %v", err)
	}
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":1.5}`, `{"\u0000":1}`, `[1,2,"x"]`, `{"a":{"a":{"a":[]}}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_ = Check([]byte(s), Rules{Canonical: true, NoNUL: true})
		_ = Check([]byte(s), Rules{NoNUL: true})
	})
}
