package audit

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Report is the outcome of Verify.
type Report struct {
	// OK: every entry present hashes to its stored hash, links to the one
	// before it, the sequence has no gap, the head row agrees with the last
	// entry and any kept checkpoint is still on the chain (or is the last
	// entry a signed truncation removed, with the hash it names; an older
	// checkpoint cannot be checked and is not OK).
	OK bool
	// Entries is how many entries were checked; First and Last their range.
	Entries     int64
	First, Last int64
	// Truncated is the last entry removed by a signed truncation (0: none).
	Truncated int64
	Head      Checkpoint
	// BadSeq names the first entry that was altered, removed, inserted or
	// moved (0: the head row itself); Problem says what was found.
	BadSeq  int64
	Problem string
}

func (r Report) String() string {
	if !r.OK && r.BadSeq == 0 {
		return "audit trail BROKEN at the head row: " + r.Problem
	}
	if !r.OK {
		return fmt.Sprintf("audit trail BROKEN at entry %d: %s", r.BadSeq, r.Problem)
	}
	if r.Entries == 0 {
		if r.Truncated > 0 {
			return fmt.Sprintf("audit trail whole: no entries (entries up to %d removed by a signed truncation)", r.Truncated)
		}
		return "audit trail whole: no entries yet"
	}
	s := fmt.Sprintf("audit trail whole up to entry %d (%d entries checked, head %s)", r.Last, r.Entries, r.Head)
	if r.Truncated > 0 {
		s += fmt.Sprintf("; entries up to %d removed by a signed truncation", r.Truncated)
	}
	return s
}

func (r *Report) fail(seq int64, format string, args ...any) Report {
	r.OK = false
	r.BadSeq = seq
	r.Problem = fmt.Sprintf(format, args...)
	return *r
}

// Verify walks the chain from its first entry to its last and reports the
// first entry that breaks it. kept, when not nil, is a checkpoint taken
// earlier and kept apart from the database: the entry it names must still
// be there with the same hash, which a truncated or rewritten tail fails.
func (r *Recorder) Verify(ctx context.Context, kept *Checkpoint) (Report, error) {
	rep := Report{OK: true}
	// A head row that is gone or holds what no head can is tampering too,
	// reported once the entries before it have been checked.
	head, headProblem, err := r.looseHead(ctx)
	if err != nil {
		return rep, err
	}
	rep.Head = head
	trunc, truncProblem, err := r.latestTruncation(ctx)
	if err != nil {
		return rep, err
	}
	if truncProblem != nil {
		return rep.fail(truncProblem.seq, "%s", truncProblem.what), nil
	}
	rows, err := r.db.Read.QueryContext(ctx, `SELECT `+entryColumns+` FROM audit_log ORDER BY seq`)
	if err != nil {
		return rep, fmt.Errorf("audit: read trail: %w", err)
	}
	defer rows.Close()
	var prev *Entry
	var keptSeen bool
	for rows.Next() {
		e, problem, err := scanLoose(rows)
		if err != nil {
			return rep, fmt.Errorf("audit: read entry: %w", err)
		}
		if problem != nil {
			if problem.seq == 0 {
				problem.seq = 1
				if prev != nil {
					problem.seq = prev.Seq + 1
				}
			}
			return rep.fail(problem.seq, "%s", problem.what), nil
		}
		if prev == nil {
			rep.First = e.Seq
			if e.Seq != 1 || e.PrevHash != "" {
				if trunc == nil {
					if e.Seq > 1 {
						return rep.fail(1, "entries 1 to %d are missing and no signed truncation removed them", e.Seq-1), nil
					}
					return rep.fail(e.Seq, "the first entry does not start the chain"), nil
				}
				if err := r.checkTruncation(ctx, trunc); err != nil {
					return rep.fail(trunc.Seq, "truncation entry: %v", err), nil
				}
				through, _ := strconv.ParseInt(trunc.Detail["through_seq"], 10, 64)
				if e.Seq != through+1 {
					return rep.fail(through+1, "the latest signed truncation removed entries up to %d, but the trail starts at %d", through, e.Seq), nil
				}
				if e.PrevHash != trunc.Detail["through_hash"] {
					return rep.fail(e.Seq, "entry %d does not continue where the signed truncation ended", e.Seq), nil
				}
				rep.Truncated = through
			}
		} else {
			if e.Seq != prev.Seq+1 {
				if e.Seq-prev.Seq == 2 {
					return rep.fail(prev.Seq+1, "entry %d was removed", prev.Seq+1), nil
				}
				return rep.fail(prev.Seq+1, "entries %d to %d were removed", prev.Seq+1, e.Seq-1), nil
			}
		}
		if e.ComputeHash() != e.Hash {
			return rep.fail(e.Seq, "entry %d was altered (its content does not match its hash)", e.Seq), nil
		}
		if prev != nil && e.PrevHash != prev.Hash {
			return rep.fail(e.Seq, "entry %d does not follow entry %d (inserted or moved, or %d re-hashed after an alteration)",
				e.Seq, prev.Seq, prev.Seq), nil
		}
		if kept != nil && e.Seq == kept.Seq {
			keptSeen = true
			if e.Hash != kept.Hash {
				return rep.fail(e.Seq, "entry %d differs from the kept checkpoint (the chain was rewritten from here or earlier)", e.Seq), nil
			}
		}
		rep.Entries++
		rep.Last = e.Seq
		prev = &e
	}
	if err := rows.Err(); err != nil {
		return rep, fmt.Errorf("audit: read trail: %w", err)
	}
	if headProblem != "" {
		rep.Head = Checkpoint{}
		return rep.fail(0, "%s", headProblem), nil
	}
	if prev == nil && trunc == nil && head.Seq > 0 {
		return rep.fail(1, "all %d entries were removed", head.Seq), nil
	}
	switch {
	case rep.Last < head.Seq:
		if head.Seq-rep.Last == 1 {
			return rep.fail(rep.Last+1, "entry %d, the last, was removed (the head names %d)", head.Seq, head.Seq), nil
		}
		return rep.fail(rep.Last+1, "entries %d to %d at the tail were removed (the head names %d)", rep.Last+1, head.Seq, head.Seq), nil
	case rep.Last > head.Seq:
		return rep.fail(head.Seq+1, "entries %d to %d lie past the head (inserted)", head.Seq+1, rep.Last), nil
	case prev != nil && prev.Hash != head.Hash:
		return rep.fail(prev.Seq, "entry %d does not match the head row", prev.Seq), nil
	}
	if kept != nil && kept.Seq > 0 && !keptSeen {
		switch {
		case kept.Seq > rep.Last:
			return rep.fail(rep.Last+1, "the kept checkpoint names entry %d, but the trail ends at %d: the tail was truncated", kept.Seq, rep.Last), nil
		case kept.Seq > rep.Truncated:
			return rep.fail(kept.Seq, "entry %d of the kept checkpoint is missing", kept.Seq), nil
		case kept.Seq == rep.Truncated:
			// The truncation names the last entry it removed and its hash.
			if kept.Hash != trunc.Detail["through_hash"] {
				return rep.fail(kept.Seq, "entry %d differs from the kept checkpoint: the signed truncation at entry %d removed it with another hash",
					kept.Seq, trunc.Seq), nil
			}
		default:
			// Nothing is left to compare the checkpoint with: it proves
			// nothing, so it must not pass as checked.
			return rep.fail(kept.Seq, "the kept checkpoint's entry %d was removed by the signed truncation at entry %d (entries up to %d): it cannot be checked; keep a newer checkpoint",
				kept.Seq, trunc.Seq, rep.Truncated), nil
		}
	}
	return rep, nil
}

// latestTruncation is the newest truncation entry, or nil; a problem when
// its row cannot be read as an entry.
func (r *Recorder) latestTruncation(ctx context.Context) (*Entry, *rowProblem, error) {
	rows, err := r.db.Read.QueryContext(ctx, `SELECT `+entryColumns+` FROM audit_log WHERE action = $1 ORDER BY seq DESC LIMIT 1`, ActionTruncate)
	if err != nil {
		return nil, nil, fmt.Errorf("audit: read truncation: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return nil, nil, fmt.Errorf("audit: read truncation: %w", err)
		}
		return nil, nil, nil
	}
	e, problem, err := scanLoose(rows)
	if err != nil || problem != nil {
		if err != nil {
			err = fmt.Errorf("audit: read truncation: %w", err)
		}
		return nil, problem, err
	}
	return &e, nil, nil
}

// rowProblem is a row of the trail that cannot be an entry: a column
// changed to a value of the wrong type, which only tampering does.
type rowProblem struct {
	seq  int64 // 0: the row's own seq is unreadable
	what string
}

// scanLoose reads an entry without trusting the column types: a value of
// the wrong type is reported as a problem of that entry, not an error.
func scanLoose(rows *sql.Rows) (Entry, *rowProblem, error) {
	var raw [20]any
	ptrs := make([]any, len(raw))
	for i := range raw {
		ptrs[i] = &raw[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return Entry{}, nil, err
	}
	var e Entry
	seq, ok := looseInt(raw[0])
	if !ok {
		return e, &rowProblem{0, fmt.Sprintf("an entry's seq column holds %s, not a sequence number", describe(raw[0]))}, nil
	}
	e.Seq = seq
	ts, ok := looseInt(raw[1])
	if !ok {
		return e, &rowProblem{seq, fmt.Sprintf("entry %d was altered (its ts column holds %s, not a time)", seq, describe(raw[1]))}, nil
	}
	e.Time = time.UnixMilli(ts).UTC()
	names := strings.Split(entryColumns, ",")
	strs := make([]string, 18)
	for i := range strs {
		v, ok := looseString(raw[i+2])
		if !ok {
			return e, &rowProblem{seq, fmt.Sprintf("entry %d was altered (its %s column holds %s, not text)",
				seq, strings.TrimSpace(names[i+2]), describe(raw[i+2]))}, nil
		}
		strs[i] = v
	}
	e.ActorUser, e.ActorDevice, e.RemoteAddr, e.UserAgent, e.Action, e.TargetUser = strs[0], strs[1], strs[2], strs[3], strs[4], strs[5]
	e.RoomID, e.EventID, e.EventType, e.MediaID, e.Team, e.TokenID = strs[6], strs[7], strs[8], strs[9], strs[10], strs[11]
	e.Outcome, e.Reason, e.RequestID, e.detail, e.PrevHash, e.Hash = Outcome(strs[12]), strs[13], strs[14], strs[15], strs[16], strs[17]
	e.Detail = decodeDetail(e.detail)
	return e, nil, nil
}

// looseHead reads the head row; a problem when it is missing or unreadable.
func (r *Recorder) looseHead(ctx context.Context) (Checkpoint, string, error) {
	var seq, hash any
	err := r.db.Read.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return Checkpoint{}, "the head row (audit_head) was removed", nil
	}
	if err != nil {
		return Checkpoint{}, "", fmt.Errorf("audit: read head: %w", err)
	}
	n, ok1 := looseInt(seq)
	h, ok2 := looseString(hash)
	if !ok1 || !ok2 {
		return Checkpoint{}, fmt.Sprintf("the head row (audit_head) was altered (it holds %s:%s)", describe(seq), describe(hash)), nil
	}
	return Checkpoint{Seq: n, Hash: h}, "", nil
}

func looseInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case int:
		return int64(x), true
	case string:
		// A number as text is the same number (SQLite's integer columns
		// turn it into one anyway).
		n, err := strconv.ParseInt(x, 10, 64)
		return n, err == nil
	}
	return 0, false
}

func looseString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case []byte:
		return string(x), true
	}
	return "", false
}

// describe shows a value found in a column, briefly.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case string:
		return fmt.Sprintf("%.40q", x)
	case []byte:
		return fmt.Sprintf("%.40q", x)
	}
	return fmt.Sprintf("%.40v", v)
}

// checkTruncation checks a truncation entry's signature with the server key
// it names.
func (r *Recorder) checkTruncation(ctx context.Context, e *Entry) error {
	keyID := e.Detail["key_id"]
	var seed []byte
	err := r.db.Read.QueryRowContext(ctx, `SELECT seed FROM server_keys WHERE key_id = $1`, keyID).Scan(&seed)
	if err != nil {
		return fmt.Errorf("signing key %q not found", keyID)
	}
	sig, err := base64.RawStdEncoding.DecodeString(e.Detail["signature"])
	if err != nil {
		return errors.New("unreadable signature")
	}
	through, _ := strconv.ParseInt(e.Detail["through_seq"], 10, 64)
	pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
	if !ed25519.Verify(pub, truncationMessage(through, e.Detail["through_hash"]), sig) {
		return errors.New("bad signature")
	}
	return nil
}

func truncationMessage(through int64, hash string) []byte {
	return fmt.Appendf(nil, "ward-audit-truncation\n%d\n%s\n", through, hash)
}
