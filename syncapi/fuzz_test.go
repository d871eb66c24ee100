package syncapi

import (
	"context"
	"errors"
	"testing"

	"maunium.net/go/mautrix"
)

// FuzzFilter feeds arbitrary inline filters to /sync's filter decoder
// (spec: "Filtering"): it must never panic, and every refusal must be a
// Matrix error a client can read.
func FuzzFilter(f *testing.F) {
	for _, seed := range []string{
		`{"room":{"timeline":{"limit":10,"types":["m.room.message"]},"state":{"lazy_load_members":true}}}`,
		`{"room":{"rooms":["!a:b"],"not_rooms":[],"include_leave":true}}`,
		`{"account_data":{"not_types":["*"]},"presence":{"limit":0}}`,
		`{"room":{"timeline":{"limit":"x"}}}`, `{`, `{"room":[]}`, `{}`,
	} {
		f.Add(seed)
	}
	s := &Service{}
	f.Fuzz(func(t *testing.T, raw string) {
		if len(raw) == 0 || raw[0] != '{' {
			raw = "{" + raw
		}
		flt, err := s.LoadFilter(context.Background(), "@u:x", raw)
		if err != nil {
			var re mautrix.RespError
			if !errors.As(err, &re) || re.ErrCode == "" {
				t.Fatalf("filter error is not a Matrix error: %v", err)
			}
			return
		}
		_ = flt.TimelineLimit()
		if flt.TimelineLimit() <= 0 || flt.TimelineLimit() > 500 {
			t.Fatalf("timeline limit %d out of range", flt.TimelineLimit())
		}
		_, _ = flt.Timeline("!r:x")
		_, _ = flt.State("!r:x")
		_ = flt.RoomAllowed("!r:x")
		_ = flt.AccountData().MatchType("m.direct")
	})
}

// FuzzParseToken: sync tokens come from clients; a bad one is
// M_INVALID_PARAM, a good one round-trips.
func FuzzParseToken(f *testing.F) {
	for _, seed := range []string{"s0_0", "s123_4", "s99", "t1", "", "s-1_2", "s1_x", "s9999999999999999999999"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		tok, err := ParseToken(raw)
		if err != nil {
			var re mautrix.RespError
			if !errors.As(err, &re) || re.ErrCode != "M_INVALID_PARAM" {
				t.Fatalf("bad token error: %v", err)
			}
			return
		}
		if tok.Pos < 0 || tok.Typing < 0 {
			t.Fatalf("negative token parts from %q", raw)
		}
		again, err := ParseToken(tok.String())
		if err != nil || again != tok {
			t.Fatalf("token %q does not round-trip: %v %v", raw, again, err)
		}
	})
}
