package audit

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"ward/internal/db"
	"ward/internal/dbtest"
)

// newTrail is a recorder on a fresh, migrated database holding n entries
// (with a server signing key, as the rooms package would have stored).
func newTrail(t *testing.T, b dbtest.Backend, n int) (*Recorder, *db.DB) {
	t.Helper()
	ctx := context.Background()
	dsn := dbtest.SQLite(t)
	if b.Name == "postgres" {
		dsn = dbtest.Postgres(t)
	}
	d, err := db.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if _, err := d.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	seed := make([]byte, ed25519.SeedSize)
	if err := d.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO server_keys (key_id, seed, created_ts) VALUES ($1, $2, $3)`, "ed25519:test", seed, 1)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	r := New(d, slog.New(slog.DiscardHandler))
	clock := time.UnixMilli(1767225600000)
	r.now = func() time.Time { clock = clock.Add(time.Minute); return clock }
	for i := range n {
		if err := r.RecordAlone(ctx, Entry{ActorUser: fmt.Sprintf("@u%d:clinic.test", i+1), Action: ActionLogin,
			Detail: map[string]string{"n": fmt.Sprint(i + 1)}}); err != nil {
			t.Fatal(err)
		}
	}
	return r, d
}

func exec(t *testing.T, d *db.DB, q string, args ...any) {
	t.Helper()
	if err := d.Tx(context.Background(), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(context.Background(), q, args...)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

func entry(t *testing.T, r *Recorder, seq int64) Entry {
	t.Helper()
	es, _, err := r.Query(context.Background(), Filter{After: seq - 1, Limit: 1})
	if err != nil || len(es) != 1 || es[0].Seq != seq {
		t.Fatalf("entry %d: %v %+v", seq, err, es)
	}
	return es[0]
}

// rewrite stores e as entry e.Seq, re-hashed as a forger would.
func rewrite(t *testing.T, d *db.DB, e Entry) Entry {
	t.Helper()
	e.normalise()
	e.Hash = e.ComputeHash()
	exec(t, d, `UPDATE audit_log SET ts = $1, actor_user = $2, action = $3, detail = $4, prev_hash = $5, hash = $6 WHERE seq = $7`,
		e.Time.UnixMilli(), e.ActorUser, e.Action, e.detail, e.PrevHash, e.Hash, e.Seq)
	return e
}

// rehashFrom re-chains every entry from seq on and moves the head: a
// forger who knows the algorithm and rewrites the rest of the trail.
func rehashFrom(t *testing.T, r *Recorder, d *db.DB, seq int64) {
	t.Helper()
	all, _, err := r.Query(context.Background(), Filter{After: seq - 1, Limit: MaxPage})
	if err != nil {
		t.Fatal(err)
	}
	prev := ""
	if seq > 1 {
		prev = entry(t, r, seq-1).Hash
	}
	for _, e := range all {
		e.PrevHash = prev
		prev = rewrite(t, d, e).Hash
	}
	exec(t, d, `UPDATE audit_head SET hash = $1`, prev)
}

// TestVerifyCraftedRows: Verify on trails changed behind its back, from
// single altered fields to a fully re-hashed rewrite, names the right entry.
func TestVerifyCraftedRows(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ctx := context.Background()
		cases := []struct {
			name    string
			tamper  func(t *testing.T, r *Recorder, d *db.DB, head Checkpoint) *Checkpoint
			badSeq  int64
			problem string
		}{
			{name: "untouched", tamper: func(*testing.T, *Recorder, *db.DB, Checkpoint) *Checkpoint { return nil }},
			{name: "untouched with checkpoint", tamper: func(_ *testing.T, _ *Recorder, _ *db.DB, h Checkpoint) *Checkpoint { return &h }},
			{name: "field changed", badSeq: 3, problem: "altered", tamper: func(t *testing.T, _ *Recorder, d *db.DB, _ Checkpoint) *Checkpoint {
				exec(t, d, `UPDATE audit_log SET actor_user = '@mallory:clinic.test' WHERE seq = 3`)
				return nil
			}},
			{name: "detail changed", badSeq: 2, problem: "altered", tamper: func(t *testing.T, _ *Recorder, d *db.DB, _ Checkpoint) *Checkpoint {
				exec(t, d, `UPDATE audit_log SET detail = '{"n":"9"}' WHERE seq = 2`)
				return nil
			}},
			{name: "one entry re-hashed", badSeq: 4, problem: "does not follow", tamper: func(t *testing.T, r *Recorder, d *db.DB, _ Checkpoint) *Checkpoint {
				e := entry(t, r, 3)
				e.ActorUser = "@mallory:clinic.test"
				rewrite(t, d, e)
				return nil
			}},
			{name: "middle removed", badSeq: 3, problem: "entry 3 was removed", tamper: func(t *testing.T, _ *Recorder, d *db.DB, _ Checkpoint) *Checkpoint {
				exec(t, d, `DELETE FROM audit_log WHERE seq = 3`)
				return nil
			}},
			{name: "first removed", badSeq: 1, problem: "missing", tamper: func(t *testing.T, _ *Recorder, d *db.DB, _ Checkpoint) *Checkpoint {
				exec(t, d, `DELETE FROM audit_log WHERE seq <= 2`)
				return nil
			}},
			{name: "two swapped", badSeq: 2, problem: "altered", tamper: func(t *testing.T, _ *Recorder, d *db.DB, _ Checkpoint) *Checkpoint {
				exec(t, d, `UPDATE audit_log SET seq = -2 WHERE seq = 2`)
				exec(t, d, `UPDATE audit_log SET seq = 2 WHERE seq = 3`)
				exec(t, d, `UPDATE audit_log SET seq = 3 WHERE seq = -2`)
				return nil
			}},
			{name: "inserted past the head", badSeq: 6, problem: "past the head", tamper: func(t *testing.T, r *Recorder, d *db.DB, h Checkpoint) *Checkpoint {
				e := entry(t, r, 5)
				e.Seq, e.PrevHash, e.ActorUser = 6, h.Hash, "@mallory:clinic.test"
				e.normalise()
				e.Hash = e.ComputeHash()
				exec(t, d, `INSERT INTO audit_log (seq, ts, action, outcome, detail, actor_user, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
					e.Seq, e.Time.UnixMilli(), e.Action, string(e.Outcome), e.detail, e.ActorUser, e.PrevHash, e.Hash)
				return nil
			}},
			{name: "last removed", badSeq: 5, problem: "the last, was removed", tamper: func(t *testing.T, _ *Recorder, d *db.DB, _ Checkpoint) *Checkpoint {
				exec(t, d, `DELETE FROM audit_log WHERE seq = 5`)
				return nil
			}},
			{name: "tail and head cut, with checkpoint", badSeq: 4, problem: "tail was truncated", tamper: func(t *testing.T, r *Recorder, d *db.DB, h Checkpoint) *Checkpoint {
				exec(t, d, `DELETE FROM audit_log WHERE seq >= 4`)
				exec(t, d, `UPDATE audit_head SET seq = 3, hash = $1`, entry(t, r, 3).Hash)
				return &h
			}},
			{name: "rewritten and re-hashed, with checkpoint", badSeq: 5, problem: "kept checkpoint", tamper: func(t *testing.T, r *Recorder, d *db.DB, h Checkpoint) *Checkpoint {
				e := entry(t, r, 2)
				e.ActorUser = "@mallory:clinic.test"
				rewrite(t, d, e)
				rehashFrom(t, r, d, 2)
				return &h
			}},
			{name: "forged truncation", badSeq: 6, problem: "bad signature", tamper: func(t *testing.T, r *Recorder, d *db.DB, _ Checkpoint) *Checkpoint {
				if n, err := r.Truncate(ctx, time.UnixMilli(1767225600000).Add(3*time.Minute+time.Second), "test"); err != nil || n != 3 {
					t.Fatalf("truncate: %d %v", n, err)
				}
				tr := entry(t, r, 6)
				tr.Detail["signature"] = strings.Repeat("A", 86)
				rewrite(t, d, tr)
				exec(t, d, `UPDATE audit_head SET hash = $1`, entry(t, r, 6).Hash)
				return nil
			}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r, d := newTrail(t, b, 5)
				head, err := r.Head(ctx)
				if err != nil || head.Seq != 5 {
					t.Fatalf("head %v %v", head, err)
				}
				kept := c.tamper(t, r, d, head)
				rep, err := r.Verify(ctx, kept)
				if err != nil {
					t.Fatal(err)
				}
				if c.badSeq == 0 {
					if !rep.OK || rep.Last != 5 || rep.Entries != 5 {
						t.Fatalf("untouched trail: %s", rep)
					}
					return
				}
				if rep.OK || rep.BadSeq != c.badSeq || !strings.Contains(rep.Problem, c.problem) {
					t.Fatalf("got %s; want entry %d: %q", rep, c.badSeq, c.problem)
				}
			})
		}
		// A proper truncation verifies; a checkpoint of the last entry it
		// removed is checked against the hash it names; an older one
		// cannot be checked and is not reported whole.
		r, _ := newTrail(t, b, 5)
		early := Checkpoint{Seq: 2, Hash: entry(t, r, 2).Hash}
		last := Checkpoint{Seq: 3, Hash: entry(t, r, 3).Hash}
		if n, err := r.Truncate(ctx, time.UnixMilli(1767225600000).Add(3*time.Minute+time.Second), "test"); err != nil || n != 3 {
			t.Fatalf("truncate: %d %v", n, err)
		}
		rep, err := r.Verify(ctx, nil)
		if err != nil || !rep.OK || rep.Truncated != 3 || rep.First != 4 || rep.Last != 6 {
			t.Fatalf("after a signed truncation: %s %v", rep, err)
		}
		if rep, err := r.Verify(ctx, &last); err != nil || !rep.OK {
			t.Fatalf("checkpoint of the truncation's last entry: %s %v", rep, err)
		}
		madeUp := Checkpoint{Seq: 3, Hash: strings.Repeat("ab", 32)}
		if rep, err := r.Verify(ctx, &madeUp); err != nil || rep.OK || rep.BadSeq != 3 || !strings.Contains(rep.Problem, "differs from the kept checkpoint") {
			t.Fatalf("made-up hash at the truncation's last entry: %s %v", rep, err)
		}
		for _, cp := range []Checkpoint{early, {Seq: 1, Hash: strings.Repeat("cd", 32)}} {
			rep, err := r.Verify(ctx, &cp)
			if err != nil || rep.OK || rep.BadSeq != cp.Seq || !strings.Contains(rep.Problem, "removed by the signed truncation at entry 6") {
				t.Fatalf("checkpoint %s older than the truncation: %s %v", cp, rep, err)
			}
		}
	})
}

// What Checkpoint.String writes, ParseCheckpoint reads: an empty trail's
// head "0:" included.
func TestCheckpointRoundTrip(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	for _, c := range []Checkpoint{{}, {Seq: 1, Hash: hash}, {Seq: 12345, Hash: hash}} {
		got, err := ParseCheckpoint(c.String())
		if err != nil || got != c {
			t.Errorf("ParseCheckpoint(%q) = %v, %v", c.String(), got, err)
		}
	}
	for _, bad := range []string{"", "0", ":", "x:" + hash, "-1:" + hash, "3:", "0:" + hash, "3:" + hash[:63], "3:" + strings.Repeat("z", 64), "3:" + hash + "0"} {
		if c, err := ParseCheckpoint(bad); err == nil {
			t.Errorf("ParseCheckpoint(%q) = %v, want an error", bad, c)
		}
	}
}

// TestVerifyUnreadableRows: rows no Ward code could have written (the head
// row deleted, a column given a value of another type) are a broken chain
// naming the entry or the head, not an internal error.
func TestVerifyUnreadableRows(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ctx := context.Background()
		// Make a column of audit_log hold text on either database.
		toText := func(t *testing.T, d *db.DB, table, column string) {
			if b.Name == "postgres" {
				exec(t, d, `ALTER TABLE `+table+` ALTER COLUMN `+column+` TYPE text USING `+column+`::text`)
			}
		}
		for _, c := range []struct {
			name, want string
			tamper     func(t *testing.T, d *db.DB)
		}{
			{"head row deleted", "audit trail BROKEN at the head row: the head row (audit_head) was removed", func(t *testing.T, d *db.DB) {
				exec(t, d, `DELETE FROM audit_head`)
			}},
			{"head seq made text", "audit trail BROKEN at the head row: the head row (audit_head) was altered", func(t *testing.T, d *db.DB) {
				toText(t, d, "audit_head", "seq")
				exec(t, d, `UPDATE audit_head SET seq = 'five'`)
			}},
			{"ts made text", `audit trail BROKEN at entry 3: entry 3 was altered (its ts column holds "soon", not a time)`, func(t *testing.T, d *db.DB) {
				toText(t, d, "audit_log", "ts")
				exec(t, d, `UPDATE audit_log SET ts = 'soon' WHERE seq = 3`)
			}},
			{"truncation entry unreadable", "audit trail BROKEN at entry 6: entry 6 was altered (its ts column", func(t *testing.T, d *db.DB) {
				toText(t, d, "audit_log", "ts")
				exec(t, d, `UPDATE audit_log SET ts = 'x' WHERE action = 'audit.truncate'`)
			}},
		} {
			t.Run(c.name, func(t *testing.T) {
				r, d := newTrail(t, b, 5)
				if c.name == "truncation entry unreadable" {
					if _, err := r.Truncate(ctx, time.UnixMilli(1767225600000).Add(3*time.Minute+time.Second), "test"); err != nil {
						t.Fatal(err)
					}
				}
				c.tamper(t, d)
				rep, err := r.Verify(ctx, nil)
				if err != nil {
					t.Fatalf("an internal error instead of a finding: %v", err)
				}
				if rep.OK || !strings.HasPrefix(rep.String(), c.want) {
					t.Fatalf("got %s\nwant %s…", rep, c.want)
				}
			})
		}
	})
}

// A cut-off in the future would remove every entry: refused, nothing
// removed.
func TestTruncateRefusesTheFuture(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ctx := context.Background()
		r, _ := newTrail(t, b, 3)
		n, err := r.Truncate(ctx, time.UnixMilli(1767225600000).Add(24*time.Hour), "test")
		if err == nil || !strings.Contains(err.Error(), "in the future") || n != 0 {
			t.Fatalf("future cut-off: %d %v", n, err)
		}
		if rep, err := r.Verify(ctx, nil); err != nil || !rep.OK || rep.Entries != 3 || rep.Truncated != 0 {
			t.Fatalf("after the refusal: %s %v", rep, err)
		}
	})
}
