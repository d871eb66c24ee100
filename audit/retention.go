package audit

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Truncate removes the entries older than before, and only through a
// recorded truncation: in one transaction it appends a truncation entry
// naming the last removed entry and its hash, signed with the server's
// ed25519 key, and deletes the entries up to that one. Entries are removed
// from the start of the chain only, up to the first entry at or after
// before, which must not lie in the future. It returns the number of
// entries removed (0: nothing was old enough, and nothing is recorded).
func (r *Recorder) Truncate(ctx context.Context, before time.Time, reason string) (int64, error) {
	if r == nil {
		return 0, nil
	}
	if now := r.now(); before.After(now) {
		// Entries are removed only once they are old; a cut-off in the
		// future would remove every entry, the newest included.
		return 0, fmt.Errorf("audit: the cut-off %s is in the future (now %s): only entries older than a past time can be removed",
			before.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	keyID, key, err := r.signingKey(ctx)
	if err != nil {
		return 0, err
	}
	var removed int64
	err = r.db.Tx(ctx, func(tx *sql.Tx) error {
		removed = 0
		var first, through sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT MIN(seq) FROM audit_log`).Scan(&first); err != nil {
			return err
		}
		if !first.Valid {
			return nil
		}
		// The first entry not older than before; everything ahead of it goes.
		var keep sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT MIN(seq) FROM audit_log WHERE ts >= $1`, before.UnixMilli()).Scan(&keep); err != nil {
			return err
		}
		if keep.Valid {
			through = sql.NullInt64{Int64: keep.Int64 - 1, Valid: true}
		} else if err := tx.QueryRowContext(ctx, `SELECT MAX(seq) FROM audit_log`).Scan(&through); err != nil {
			return err
		}
		if through.Int64 < first.Int64 {
			return nil
		}
		var hash string
		if err := tx.QueryRowContext(ctx, `SELECT hash FROM audit_log WHERE seq = $1`, through.Int64).Scan(&hash); err != nil {
			return fmt.Errorf("audit: read the last entry to remove: %w", err)
		}
		removed = through.Int64 - first.Int64 + 1
		e := Entry{
			Action: ActionTruncate, Outcome: Allowed, Reason: reason,
			Detail: map[string]string{
				"through_seq":  strconv.FormatInt(through.Int64, 10),
				"through_hash": hash,
				"removed":      strconv.FormatInt(removed, 10),
				"before":       before.UTC().Format(time.RFC3339),
				"key_id":       keyID,
				"signature":    base64.RawStdEncoding.EncodeToString(ed25519.Sign(key, truncationMessage(through.Int64, hash))),
			},
		}
		fill(ctx, &e)
		if _, err := r.append(ctx, tx, e); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM audit_log WHERE seq <= $1`, through.Int64); err != nil {
			return fmt.Errorf("audit: remove entries: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return removed, nil
}

// signingKey reads the server's ed25519 key (the rooms package creates it
// at first start; the audit package only reads it).
func (r *Recorder) signingKey(ctx context.Context) (string, ed25519.PrivateKey, error) {
	var keyID string
	var seed []byte
	err := r.db.Read.QueryRowContext(ctx, `SELECT key_id, seed FROM server_keys ORDER BY created_ts LIMIT 1`).Scan(&keyID, &seed)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil, errors.New("audit: the server has no signing key yet (start the server once)")
	}
	if err != nil {
		return "", nil, fmt.Errorf("audit: read signing key: %w", err)
	}
	return keyID, ed25519.NewKeyFromSeed(seed), nil
}

// RunRetention truncates entries older than period every interval until ctx
// ends. A period of 0 keeps everything.
func (r *Recorder) RunRetention(ctx context.Context, period, interval time.Duration) {
	if r == nil || period <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := r.Truncate(ctx, r.now().Add(-period), "retention period "+period.String())
		if err != nil && ctx.Err() == nil {
			r.log.ErrorContext(ctx, "audit retention failed", "error", err)
		} else if n > 0 {
			r.log.InfoContext(ctx, "audit retention removed old entries", "removed", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
