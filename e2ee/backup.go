package e2ee

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"ward/audit"
	"ward/internal/db"
)

// Server-side key backups. A user has numbered backup versions; keys can be
// written only to the newest one that is not deleted (the current version)
// and read from any version that is not deleted. auth_data and session_data
// are stored as given: the server never looks inside them.
//
// Spec: client-server-api "Server-side key backups" and the /room_keys
// endpoints.

// Limits on one request.
const (
	maxBackupKeysPerUpload = 10000
	maxBackupIDLength      = 255
	maxBackupDataLength    = 64 * 1024
	maxBackupAlgorithm     = 255
)

// ErrWrongRoomKeysVersion is the code for a write to a backup version that
// is not the current one.
const ErrWrongRoomKeysVersion = "M_WRONG_ROOM_KEYS_VERSION"

// BackupVersion is the body of POST /room_keys/version and PUT
// /room_keys/version/{version}, and (with Count, ETag and Version) the
// answer of GET /room_keys/version[/{version}].
type BackupVersion struct {
	Algorithm string          `json:"algorithm"`
	AuthData  json.RawMessage `json:"auth_data"`
	Count     int64           `json:"count"`
	ETag      string          `json:"etag"`
	Version   string          `json:"version"`
}

// BackupKey is one session key in a backup (KeyBackupData). The pointer
// fields tell a missing member from a zero one on upload.
type BackupKey struct {
	FirstMessageIndex *int64          `json:"first_message_index"`
	ForwardedCount    *int64          `json:"forwarded_count"`
	IsVerified        *bool           `json:"is_verified"`
	SessionData       json.RawMessage `json:"session_data"`
}

// RoomBackup is the keys of one room: {"sessions": {sessionId: key}}.
type RoomBackup struct {
	Sessions map[string]*BackupKey `json:"sessions"`
}

// BackupUpdate is the answer of every write to a backup's keys.
type BackupUpdate struct {
	Count int64  `json:"count"`
	ETag  string `json:"etag"`
}

func errUnknownVersion() error {
	return mautrix.MNotFound.WithMessage("Unknown backup version")
}

func errWrongVersion(current int64) error {
	return mautrix.RespError{
		ErrCode:    ErrWrongRoomKeysVersion,
		Err:        "Wrong backup version.",
		StatusCode: http.StatusForbidden,
		ExtraData:  map[string]any{"current_version": strconv.FormatInt(current, 10)},
	}
}

// parseVersion reads a version number; ok is false for anything that can
// name no version.
func parseVersion(v string) (int64, bool) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 || strconv.FormatInt(n, 10) != v {
		return 0, false
	}
	return n, true
}

// storableID checks a room or session ID taken from a request.
func storableID(kind, s string) error {
	if s == "" || len(s) > maxBackupIDLength || !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
		return mautrix.MInvalidParam.WithMessage("Invalid %s %q", kind, s)
	}
	return nil
}

// jsonObject reports whether raw is a JSON object.
func jsonObject(raw json.RawMessage) bool {
	s := strings.TrimSpace(string(raw))
	return strings.HasPrefix(s, "{") && json.Valid(raw)
}

// checkAlgorithm checks the algorithm and auth_data of a backup version.
func checkVersionBody(b *BackupVersion) error {
	if b.Algorithm == "" || len(b.Algorithm) > maxBackupAlgorithm || !utf8.ValidString(b.Algorithm) || strings.ContainsRune(b.Algorithm, 0) {
		return mautrix.MBadJSON.WithMessage("algorithm is required")
	}
	if !jsonObject(b.AuthData) {
		return mautrix.MBadJSON.WithMessage("auth_data must be a JSON object")
	}
	if len(b.AuthData) > maxBackupDataLength {
		return mautrix.MTooLarge.WithMessage("auth_data is too large")
	}
	return nil
}

// currentVersion returns the user's newest version that is not deleted,
// or 0 when there is none.
func currentVersion(ctx context.Context, q db.Querier, user id.UserID) (int64, error) {
	var v sql.NullInt64
	err := q.QueryRowContext(ctx, `SELECT MAX(version) FROM e2ee_backup_versions WHERE user_id = $1 AND deleted = $2`,
		user, false).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("read current backup version: %w", err)
	}
	return v.Int64, nil
}

// CreateBackupVersion makes a new backup version, which becomes the
// current one, and returns its number.
func (s *Service) CreateBackupVersion(ctx context.Context, user id.UserID, b BackupVersion) (string, error) {
	if err := checkVersionBody(&b); err != nil {
		return "", err
	}
	var version int64
	var err error
	// Two creations at once on PostgreSQL may pick the same number: the
	// second fails on the primary key and tries again.
	for range 5 {
		err = s.db.Tx(ctx, func(tx *sql.Tx) error {
			if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) + 1 FROM e2ee_backup_versions WHERE user_id = $1`,
				user).Scan(&version); err != nil {
				return fmt.Errorf("number backup version: %w", err)
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO e2ee_backup_versions (user_id, version, algorithm, auth_data, etag, deleted)
				VALUES ($1, $2, $3, $4, $5, $6)`, user, version, b.Algorithm, string(b.AuthData), 0, false)
			if err != nil {
				return err
			}
			return s.record(ctx, tx, audit.ActionKeyBackup, user, map[string]string{"change": "create version",
				"version": strconv.FormatInt(version, 10), "algorithm": b.Algorithm})
		})
		if !db.IsUniqueViolation(err) {
			break
		}
	}
	if err != nil {
		return "", fmt.Errorf("create backup version: %w", err)
	}
	return strconv.FormatInt(version, 10), nil
}

// GetBackupVersion returns a version ("" for the current one) with the
// count of its keys and its etag.
func (s *Service) GetBackupVersion(ctx context.Context, user id.UserID, version string) (*BackupVersion, error) {
	var v int64
	if version == "" {
		cur, err := currentVersion(ctx, s.db.Read, user)
		if err != nil {
			return nil, err
		}
		if cur == 0 {
			return nil, mautrix.MNotFound.WithMessage("No current backup version")
		}
		v = cur
	} else {
		var ok bool
		if v, ok = parseVersion(version); !ok {
			return nil, errUnknownVersion()
		}
	}
	out := &BackupVersion{Version: strconv.FormatInt(v, 10)}
	var authData string
	var etag int64
	err := s.db.Read.QueryRowContext(ctx, `SELECT algorithm, auth_data, etag FROM e2ee_backup_versions
		WHERE user_id = $1 AND version = $2 AND deleted = $3`, user, v, false).Scan(&out.Algorithm, &authData, &etag)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errUnknownVersion()
	}
	if err != nil {
		return nil, fmt.Errorf("read backup version: %w", err)
	}
	out.AuthData = json.RawMessage(authData)
	out.ETag = strconv.FormatInt(etag, 10)
	if err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM e2ee_backup_keys WHERE user_id = $1 AND version = $2`,
		user, v).Scan(&out.Count); err != nil {
		return nil, fmt.Errorf("count backup keys: %w", err)
	}
	return out, nil
}

// UpdateBackupVersion replaces the auth_data of a version. The algorithm
// must stay the same, and a version given in the body must match.
func (s *Service) UpdateBackupVersion(ctx context.Context, user id.UserID, version string, b BackupVersion) error {
	if err := checkVersionBody(&b); err != nil {
		return err
	}
	if b.Version != "" && b.Version != version {
		return mautrix.MInvalidParam.WithMessage("The version in the body does not match the version in the path")
	}
	v, ok := parseVersion(version)
	if !ok {
		return errUnknownVersion()
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		var alg string
		err := tx.QueryRowContext(ctx, `SELECT algorithm FROM e2ee_backup_versions WHERE user_id = $1 AND version = $2 AND deleted = $3`,
			user, v, false).Scan(&alg)
		if errors.Is(err, sql.ErrNoRows) {
			return errUnknownVersion()
		}
		if err != nil {
			return fmt.Errorf("read backup version: %w", err)
		}
		if alg != b.Algorithm {
			return mautrix.MInvalidParam.WithMessage("Algorithm does not match")
		}
		if _, err = tx.ExecContext(ctx, `UPDATE e2ee_backup_versions SET auth_data = $3 WHERE user_id = $1 AND version = $2`,
			user, v, string(b.AuthData)); err != nil {
			return err
		}
		return s.record(ctx, tx, audit.ActionKeyBackup, user, map[string]string{"change": "update version", "version": version})
	})
}

// DeleteBackupVersion deletes a version and all its keys. Deleting a
// version that was deleted before succeeds.
func (s *Service) DeleteBackupVersion(ctx context.Context, user id.UserID, version string) error {
	v, ok := parseVersion(version)
	if !ok {
		return errUnknownVersion()
	}
	return s.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE e2ee_backup_versions SET deleted = $3 WHERE user_id = $1 AND version = $2`,
			user, v, true)
		if err != nil {
			return fmt.Errorf("delete backup version: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errUnknownVersion()
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM e2ee_backup_keys WHERE user_id = $1 AND version = $2`, user, v); err != nil {
			return fmt.Errorf("delete backup keys: %w", err)
		}
		return s.record(ctx, tx, audit.ActionKeyBackup, user, map[string]string{"change": "delete version", "version": version})
	})
}

// lockVersion reads a version's etag inside a write transaction, locking
// its row on PostgreSQL so that writes to the same version, and its
// deletion, take turns. It returns errUnknownVersion for a version that
// does not exist or was deleted.
func (s *Service) lockVersion(ctx context.Context, tx *sql.Tx, user id.UserID, v int64) (int64, error) {
	lock := ""
	if s.db.Dialect == db.Postgres {
		lock = " FOR UPDATE"
	}
	var etag int64
	err := tx.QueryRowContext(ctx, `SELECT etag FROM e2ee_backup_versions WHERE user_id = $1 AND version = $2 AND deleted = $3`+lock,
		user, v, false).Scan(&etag)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, errUnknownVersion()
	}
	if err != nil {
		return 0, fmt.Errorf("read backup version: %w", err)
	}
	return etag, nil
}

// finishUpdate bumps the etag when something changed and returns the
// version's count and etag.
func finishUpdate(ctx context.Context, tx *sql.Tx, user id.UserID, v, etag int64, changed bool) (*BackupUpdate, error) {
	if changed {
		etag++
		if _, err := tx.ExecContext(ctx, `UPDATE e2ee_backup_versions SET etag = $3 WHERE user_id = $1 AND version = $2`,
			user, v, etag); err != nil {
			return nil, fmt.Errorf("update backup etag: %w", err)
		}
	}
	out := &BackupUpdate{ETag: strconv.FormatInt(etag, 10)}
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM e2ee_backup_keys WHERE user_id = $1 AND version = $2`,
		user, v).Scan(&out.Count); err != nil {
		return nil, fmt.Errorf("count backup keys: %w", err)
	}
	return out, nil
}

// checkBackupKey checks one uploaded KeyBackupData.
func checkBackupKey(room, session string, k *BackupKey) error {
	if err := storableID("room ID", room); err != nil {
		return err
	}
	if err := storableID("session ID", session); err != nil {
		return err
	}
	if k == nil || k.FirstMessageIndex == nil || k.ForwardedCount == nil || k.IsVerified == nil || !present(k.SessionData) {
		return mautrix.MBadJSON.WithMessage("Key %s in %s needs first_message_index, forwarded_count, is_verified and session_data", session, room)
	}
	if *k.FirstMessageIndex < 0 || *k.ForwardedCount < 0 {
		return mautrix.MInvalidParam.WithMessage("Key %s in %s has a negative index or count", session, room)
	}
	if !jsonObject(k.SessionData) {
		return mautrix.MBadJSON.WithMessage("session_data of %s in %s must be a JSON object", session, room)
	}
	if len(k.SessionData) > maxBackupDataLength {
		return mautrix.MTooLarge.WithMessage("session_data of %s in %s is too large", session, room)
	}
	return nil
}

// replaces reports whether a newly uploaded key replaces the stored one:
// a verified key beats an unverified one, then the lower
// first_message_index wins, then the lower forwarded_count. When all three
// are equal the stored key stays.
func replaces(newer *BackupKey, oldVerified bool, oldIndex, oldForwarded int64) bool {
	if *newer.IsVerified != oldVerified {
		return *newer.IsVerified
	}
	if *newer.FirstMessageIndex != oldIndex {
		return *newer.FirstMessageIndex < oldIndex
	}
	return *newer.ForwardedCount < oldForwarded
}

// PutBackupKeys stores keys (room ID -> session ID -> key) in the current
// version, keeping a stored key where the spec's rule prefers it.
func (s *Service) PutBackupKeys(ctx context.Context, user id.UserID, version string, rooms map[string]RoomBackup) (*BackupUpdate, error) {
	n := 0
	for room, rb := range rooms {
		for session, k := range rb.Sessions {
			if err := checkBackupKey(room, session, k); err != nil {
				return nil, err
			}
			n++
		}
	}
	if n > maxBackupKeysPerUpload {
		return nil, mautrix.MInvalidParam.WithMessage("Too many keys in one upload (at most %d)", maxBackupKeysPerUpload)
	}
	var out *BackupUpdate
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		cur, err := currentVersion(ctx, tx, user)
		if err != nil {
			return err
		}
		if cur == 0 {
			return errUnknownVersion()
		}
		if v, ok := parseVersion(version); !ok || v != cur {
			return errWrongVersion(cur)
		}
		etag, err := s.lockVersion(ctx, tx, user, cur)
		if err != nil {
			return err
		}
		changed := false
		stored := 0
		for room, rb := range rooms {
			for session, k := range rb.Sessions {
				var oldVerified bool
				var oldIndex, oldForwarded int64
				err := tx.QueryRowContext(ctx, `SELECT is_verified, first_message_index, forwarded_count FROM e2ee_backup_keys
					WHERE user_id = $1 AND version = $2 AND room_id = $3 AND session_id = $4`,
					user, cur, room, session).Scan(&oldVerified, &oldIndex, &oldForwarded)
				switch {
				case errors.Is(err, sql.ErrNoRows):
					_, err = tx.ExecContext(ctx, `INSERT INTO e2ee_backup_keys (user_id, version, room_id, session_id,
						first_message_index, forwarded_count, is_verified, session_data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
						user, cur, room, session, *k.FirstMessageIndex, *k.ForwardedCount, *k.IsVerified, string(k.SessionData))
				case err != nil:
				case replaces(k, oldVerified, oldIndex, oldForwarded):
					_, err = tx.ExecContext(ctx, `UPDATE e2ee_backup_keys SET first_message_index = $5, forwarded_count = $6,
						is_verified = $7, session_data = $8 WHERE user_id = $1 AND version = $2 AND room_id = $3 AND session_id = $4`,
						user, cur, room, session, *k.FirstMessageIndex, *k.ForwardedCount, *k.IsVerified, string(k.SessionData))
				default:
					continue // the stored key is better
				}
				if err != nil {
					return fmt.Errorf("store backup key: %w", err)
				}
				changed = true
				stored++
			}
		}
		out, err = finishUpdate(ctx, tx, user, cur, etag, changed)
		if err != nil || !changed {
			return err
		}
		return s.record(ctx, tx, audit.ActionKeyBackup, user, map[string]string{"change": "store keys",
			"version": strconv.FormatInt(cur, 10), "keys": strconv.Itoa(stored)})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// backupScope narrows a read or delete to a room and a session ("" for
// all).
func backupScope(room, session string) (string, []any) {
	where := ""
	var args []any
	if room != "" {
		where += " AND room_id = $3"
		args = append(args, room)
		if session != "" {
			where += " AND session_id = $4"
			args = append(args, session)
		}
	}
	return where, args
}

// GetBackupKeys returns the keys of a version, of one room of it (room
// set) or one session (room and session set): room ID -> session ID ->
// key. A version that does not exist or was deleted is M_NOT_FOUND.
func (s *Service) GetBackupKeys(ctx context.Context, user id.UserID, version, room, session string) (map[string]RoomBackup, error) {
	v, ok := parseVersion(version)
	if !ok {
		return nil, errUnknownVersion()
	}
	var n int
	if err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM e2ee_backup_versions WHERE user_id = $1 AND version = $2 AND deleted = $3`,
		user, v, false).Scan(&n); err != nil {
		return nil, fmt.Errorf("read backup version: %w", err)
	}
	if n == 0 {
		return nil, errUnknownVersion()
	}
	where, extra := backupScope(room, session)
	rows, err := s.db.Read.QueryContext(ctx, `SELECT room_id, session_id, first_message_index, forwarded_count, is_verified, session_data
		FROM e2ee_backup_keys WHERE user_id = $1 AND version = $2`+where+` ORDER BY room_id, session_id`,
		append([]any{user, v}, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("read backup keys: %w", err)
	}
	defer rows.Close()
	out := map[string]RoomBackup{}
	for rows.Next() {
		var r, sess, data string
		var index, forwarded int64
		var verified bool
		if err := rows.Scan(&r, &sess, &index, &forwarded, &verified, &data); err != nil {
			return nil, err
		}
		if out[r].Sessions == nil {
			out[r] = RoomBackup{Sessions: map[string]*BackupKey{}}
		}
		out[r].Sessions[sess] = &BackupKey{FirstMessageIndex: &index, ForwardedCount: &forwarded, IsVerified: &verified,
			SessionData: json.RawMessage(data)}
	}
	return out, rows.Err()
}

// DeleteBackupKeys deletes the keys of a version, of one room of it or one
// session. Deleting from a version that is not the current one is allowed.
func (s *Service) DeleteBackupKeys(ctx context.Context, user id.UserID, version, room, session string) (*BackupUpdate, error) {
	v, ok := parseVersion(version)
	if !ok {
		return nil, errUnknownVersion()
	}
	var out *BackupUpdate
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		etag, err := s.lockVersion(ctx, tx, user, v)
		if err != nil {
			return err
		}
		where, extra := backupScope(room, session)
		res, err := tx.ExecContext(ctx, `DELETE FROM e2ee_backup_keys WHERE user_id = $1 AND version = $2`+where,
			append([]any{user, v}, extra...)...)
		if err != nil {
			return fmt.Errorf("delete backup keys: %w", err)
		}
		deleted, _ := res.RowsAffected()
		out, err = finishUpdate(ctx, tx, user, v, etag, deleted > 0)
		if err != nil || deleted == 0 {
			return err
		}
		return s.record(ctx, tx, audit.ActionKeyBackup, user, map[string]string{"change": "delete keys",
			"version": version, "keys": strconv.FormatInt(deleted, 10)})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
