package audit

import (
	"strings"
	"testing"
	"time"
)

// sample is an entry with every field set.
func sample() Entry {
	return Entry{
		Seq: 42, Time: time.UnixMilli(1767225600123).Add(456 * time.Microsecond),
		ActorUser: "@dr.okafor:clinic.test", ActorDevice: "ABCDEFGHIJ", RemoteAddr: "192.0.2.7", UserAgent: "Element/1.11",
		Action: ActionEventSend, TargetUser: "@p.novak:clinic.test", RoomID: "!room:clinic.test", EventID: "$ev",
		EventType: "m.room.encrypted", MediaID: "media1", Team: "cardiology", TokenID: TokenID("syt_secret"),
		Outcome: Allowed, Reason: "because", RequestID: "req-1",
		Detail:   map[string]string{"recipient_count": "2", "stream_pos": "17", "état": "ü\x00"},
		PrevHash: strings.Repeat("ab", 32),
	}
}

// The canonical form, and so every stored hash, must never change across
// builds: a trail written today has to verify with any later Ward.
func TestCanonicalFormIsStable(t *testing.T) {
	e := sample()
	e.normalise()
	const want = "12:ward-audit-1\n2:42\n13:1767225600123\n22:@dr.okafor:clinic.test\n10:ABCDEFGHIJ\n9:192.0.2.7\n12:Element/1.11\n" +
		"10:event.send\n20:@p.novak:clinic.test\n17:!room:clinic.test\n3:$ev\n16:m.room.encrypted\n6:media1\n10:cardiology\n" +
		"16:9c40b7b6b29d752d\n7:allowed\n7:because\n5:req-1\n" +
		"57:{\"recipient_count\":\"2\",\"stream_pos\":\"17\",\"état\":\"ü\uFFFD\"}\n" +
		"64:abababababababababababababababababababababababababababababababab\n"
	if got := string(e.Canonical()); got != want {
		t.Fatalf("canonical form changed:\n got %q\nwant %q", got, want)
	}
	// Computed apart from this code, from the form the documentation describes.
	const wantHash = "f119b75dc505b3384e69a16f0de615b0f3194a9a24f83a06c157f6e297aeeb55"
	if got := e.ComputeHash(); got != wantHash {
		t.Fatalf("hash changed: %s", got)
	}
}

// Map order, sub-millisecond time and re-normalising do not change the
// hash; every field does, and a byte moved between neighbouring fields does.
func TestCanonicalFormCoversEveryField(t *testing.T) {
	base := sample()
	base.normalise()
	h := base.ComputeHash()
	for range 20 {
		again := sample()
		again.Time = again.Time.Add(300 * time.Microsecond)
		again.Detail = map[string]string{"état": "ü\x00", "stream_pos": "17", "recipient_count": "2"}
		again.normalise()
		again.normalise()
		if again.ComputeHash() != h {
			t.Fatal("the same entry hashed differently")
		}
	}
	changes := map[string]func(e *Entry){
		"seq": func(e *Entry) { e.Seq++ }, "time": func(e *Entry) { e.Time = e.Time.Add(time.Millisecond) },
		"actor": func(e *Entry) { e.ActorUser += "x" }, "device": func(e *Entry) { e.ActorDevice += "x" },
		"addr": func(e *Entry) { e.RemoteAddr += "x" }, "agent": func(e *Entry) { e.UserAgent += "x" },
		"action": func(e *Entry) { e.Action += "x" }, "target": func(e *Entry) { e.TargetUser += "x" },
		"room": func(e *Entry) { e.RoomID += "x" }, "event": func(e *Entry) { e.EventID += "x" },
		"type": func(e *Entry) { e.EventType += "x" }, "media": func(e *Entry) { e.MediaID += "x" },
		"team": func(e *Entry) { e.Team += "x" }, "token": func(e *Entry) { e.TokenID += "x" },
		"outcome": func(e *Entry) { e.Outcome = Denied }, "reason": func(e *Entry) { e.Reason += "x" },
		"request": func(e *Entry) { e.RequestID += "x" }, "detail": func(e *Entry) { e.Detail["stream_pos"] = "18" },
		"detail key": func(e *Entry) { e.Detail["extra"] = "" }, "prev": func(e *Entry) { e.PrevHash = strings.Repeat("cd", 32) },
		"moved byte": func(e *Entry) { e.ActorUser, e.ActorDevice = e.ActorUser+"A", e.ActorDevice[1:] },
	}
	for name, change := range changes {
		e := sample()
		change(&e)
		e.normalise()
		if e.ComputeHash() == h {
			t.Errorf("changing %s leaves the hash as it was", name)
		}
	}
}
