package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"ward/internal/db"
)

// Recorder appends entries to the trail. A nil *Recorder records nothing.
type Recorder struct {
	db  *db.DB
	log *slog.Logger
	now func() time.Time

	// head caches the chain's head as this process last wrote it, so that
	// an append needs no read: it moves the head row only if the row still
	// says what the cache does (another instance, or a rolled-back
	// transaction, makes the cache stale; then it is read afresh).
	headMu sync.Mutex
	head   *Checkpoint
}

// New returns a recorder writing to d.
func New(d *db.DB, log *slog.Logger) *Recorder {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Recorder{db: d, log: log, now: time.Now}
}

// Record appends e inside tx, the transaction of the action it records:
// both commit, or neither. Empty request fields are filled from ctx (see
// WithRequest). Call it late in the transaction (see the package
// documentation on lock order).
func (r *Recorder) Record(ctx context.Context, tx *sql.Tx, e Entry) error {
	if r == nil {
		return nil
	}
	fill(ctx, &e)
	_, err := r.append(ctx, tx, e)
	return err
}

// RecordAlone appends e in a transaction of its own: for denials, failures
// and reads, which write nothing else. Never call it while holding a write
// transaction (SQLite has one writer).
func (r *Recorder) RecordAlone(ctx context.Context, e Entry) error {
	if r == nil {
		return nil
	}
	fill(ctx, &e)
	// A denial is recorded even when the client has gone away.
	ctx = context.WithoutCancel(ctx)
	err := r.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := r.append(ctx, tx, e)
		return err
	})
	if err != nil {
		r.log.ErrorContext(ctx, "audit entry not recorded", "action", e.Action, "error", err)
	}
	return err
}

// append takes the head, chains e onto it and stores it.
func (r *Recorder) append(ctx context.Context, tx *sql.Tx, e Entry) (Entry, error) {
	if e.Time.IsZero() {
		e.Time = r.now()
	}
	e.Time = time.UnixMilli(e.Time.UnixMilli()).UTC()
	e.normalise()
	// Move the head row from the cached head to the new entry, in one
	// statement that also takes the row's lock until commit (entries are
	// numbered and chained in commit order). If the row no longer says what
	// the cache does, read it and try again. The mutex guards only the
	// cache, never a statement: a writer waiting for the row must not hold
	// up another that holds the row.
	head := r.cachedHead()
	for attempt := 0; ; attempt++ {
		if head == nil {
			var c Checkpoint
			if err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&c.Seq, &c.Hash); err != nil {
				if errors.Is(err, sql.ErrNoRows) {
					return e, errHeadMissing
				}
				return e, fmt.Errorf("audit: read head: %w", err)
			}
			head = &c
		}
		e.Seq, e.PrevHash = head.Seq+1, head.Hash
		e.Hash = e.ComputeHash()
		moved, err := r.moveHeadAndInsert(ctx, tx, head, e)
		if err != nil {
			r.setHead(nil)
			return e, err
		}
		if moved {
			break
		}
		head = nil
		if attempt >= 2 {
			r.setHead(nil)
			return e, fmt.Errorf("audit: the head moved under this writer three times")
		}
	}
	r.setHead(&Checkpoint{Seq: e.Seq, Hash: e.Hash})
	return e, nil
}

// insertEntry stores an entry whose seq, prev_hash and hash are set.
const insertEntry = `INSERT INTO audit_log (seq, ts, actor_user, actor_device, remote_addr, user_agent,
	action, target_user, room_id, event_id, event_type, media_id, team, token_id, outcome, reason, request_id,
	detail, prev_hash, hash) `

// moveHeadAndInsert moves the head row from head to e and stores e, or
// reports false (storing nothing) when the row no longer says head. On
// PostgreSQL both go in one statement, one round trip inside the writer's
// transaction; SQLite, in process, runs the two in turn.
func (r *Recorder) moveHeadAndInsert(ctx context.Context, tx *sql.Tx, head *Checkpoint, e Entry) (bool, error) {
	values := []any{e.Seq, e.Time.UnixMilli(), e.ActorUser, e.ActorDevice, e.RemoteAddr, e.UserAgent,
		e.Action, e.TargetUser, e.RoomID, e.EventID, e.EventType, e.MediaID, e.Team, e.TokenID,
		string(e.Outcome), e.Reason, e.RequestID, e.detail, e.PrevHash, e.Hash}
	if r.db.Dialect == db.Postgres {
		res, err := tx.ExecContext(ctx, `WITH moved AS (UPDATE audit_head SET seq = $1, hash = $20
			WHERE id = 1 AND seq = $21 AND hash = $22 RETURNING 1) `+insertEntry+`
			SELECT $1, $2::bigint, $3::text, $4::text, $5::text, $6::text, $7::text, $8::text, $9::text, $10::text,
				$11::text, $12::text, $13::text, $14::text, $15::text, $16::text, $17::text, $18::text, $19::text, $20
			FROM moved`, append(values, head.Seq, head.Hash)...)
		if err != nil {
			return false, fmt.Errorf("audit: append: %w", err)
		}
		n, _ := res.RowsAffected()
		return n == 1, nil
	}
	res, err := tx.ExecContext(ctx, `UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1 AND seq = $3 AND hash = $4`,
		e.Seq, e.Hash, head.Seq, head.Hash)
	if err != nil {
		return false, fmt.Errorf("audit: move head: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, insertEntry+`VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
		$15, $16, $17, $18, $19, $20)`, values...); err != nil {
		return false, fmt.Errorf("audit: insert entry: %w", err)
	}
	return true, nil
}

func (r *Recorder) cachedHead() *Checkpoint {
	r.headMu.Lock()
	defer r.headMu.Unlock()
	return r.head
}

func (r *Recorder) setHead(c *Checkpoint) {
	r.headMu.Lock()
	r.head = c
	r.headMu.Unlock()
}

// Checkpoint is a point of the chain: an entry's sequence number and hash.
// Its text form is "<seq>:<hash>".
type Checkpoint struct {
	Seq  int64
	Hash string
}

func (c Checkpoint) String() string { return fmt.Sprintf("%d:%s", c.Seq, c.Hash) }

// ParseCheckpoint reads the text form of a checkpoint, as String writes
// it: "0:" (an empty trail's head) included.
func ParseCheckpoint(s string) (Checkpoint, error) {
	bad := fmt.Errorf("a checkpoint is <seq>:<sha256 hex> (or 0: for an empty trail), got %q", s)
	seq, hash, ok := strings.Cut(strings.TrimSpace(s), ":")
	n, err := strconv.ParseInt(seq, 10, 64)
	switch {
	case !ok || err != nil || n < 0:
		return Checkpoint{}, bad
	case n == 0 && hash == "":
		return Checkpoint{}, nil
	case n == 0 || len(hash) != 64 || strings.Trim(hash, "0123456789abcdef") != "":
		return Checkpoint{}, bad
	}
	return Checkpoint{Seq: n, Hash: hash}, nil
}

// errHeadMissing: the head row, made by the migrations and never deleted
// by Ward, is gone.
var errHeadMissing = errors.New("audit: the head row (audit_head) is missing, so the trail was tampered with; ward admin audit verify tells more")

// Head is the latest entry's checkpoint, as the head row records it.
func (r *Recorder) Head(ctx context.Context) (Checkpoint, error) {
	var c Checkpoint
	err := r.db.Read.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`).Scan(&c.Seq, &c.Hash)
	if errors.Is(err, sql.ErrNoRows) {
		return c, errHeadMissing
	}
	if err != nil {
		return c, fmt.Errorf("audit: read head: %w", err)
	}
	return c, nil
}

const entryColumns = `seq, ts, actor_user, actor_device, remote_addr, user_agent, action, target_user, room_id,
	event_id, event_type, media_id, team, token_id, outcome, reason, request_id, detail, prev_hash, hash`

func scanEntry(rows interface{ Scan(...any) error }) (Entry, error) {
	var e Entry
	var ts int64
	var outcome string
	err := rows.Scan(&e.Seq, &ts, &e.ActorUser, &e.ActorDevice, &e.RemoteAddr, &e.UserAgent, &e.Action, &e.TargetUser,
		&e.RoomID, &e.EventID, &e.EventType, &e.MediaID, &e.Team, &e.TokenID, &outcome, &e.Reason, &e.RequestID,
		&e.detail, &e.PrevHash, &e.Hash)
	e.Time = time.UnixMilli(ts).UTC()
	e.Outcome = Outcome(outcome)
	e.Detail = decodeDetail(e.detail)
	return e, err
}
