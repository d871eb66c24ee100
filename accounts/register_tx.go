package accounts

import (
	"context"
	"database/sql"
	"fmt"

	"maunium.net/go/mautrix/id"
)

// Account creation inside a caller's transaction, for imports that must be
// all or nothing (the clinic roster). These change only the users table:
// they wake no one and send no member events, so that another process (the
// `ward admin` command line) may call them while the server runs.

// ValidLocalpart reports why localpart cannot name a local account, or nil.
func (s *Service) ValidLocalpart(localpart string) error { return s.validLocalpart(localpart) }

// ValidPassword says why a password cannot be an account's (CheckNewPassword).
func (s *Service) ValidPassword(password string) error { return CheckNewPassword(password) }

// CreateUserTx is CreateUser inside tx, with a display name ("" keeps the
// localpart). The account is never a server admin: the clinic role admin
// does not make one (README: Clinic policy); only `ward admin user create
// --admin` and the Synapse admin API do.
func (s *Service) CreateUserTx(ctx context.Context, tx *sql.Tx, localpart, password, displayName string) (id.UserID, error) {
	uid, err := s.createUser(ctx, tx, localpart, password, false)
	if err != nil || displayName == "" {
		return uid, err
	}
	return uid, s.SetDisplayNameTx(ctx, tx, uid, displayName)
}

// LookupAccountTx reports whether localpart names an account, whether it
// has a password and its display name.
func (s *Service) LookupAccountTx(ctx context.Context, tx *sql.Tx, localpart string) (exists, hasPassword bool, displayName string, err error) {
	var hash string
	var name sql.NullString
	err = tx.QueryRowContext(ctx, `SELECT password_hash, displayname FROM users WHERE localpart = $1`, localpart).Scan(&hash, &name)
	if err == sql.ErrNoRows {
		return false, false, "", nil
	}
	if err != nil {
		return false, false, "", fmt.Errorf("look up user: %w", err)
	}
	return true, hash != "", name.String, nil
}

// SetDisplayNameTx writes a user's display name. Member events in rooms
// keep the old name until the user next changes their profile.
func (s *Service) SetDisplayNameTx(ctx context.Context, tx *sql.Tx, user id.UserID, name string) error {
	if len(name) > maxDisplayNameBytes {
		return fmt.Errorf("display name longer than %d bytes", maxDisplayNameBytes)
	}
	_, err := tx.ExecContext(ctx, `UPDATE users SET displayname = $1 WHERE user_id = $2`, name, user)
	return err
}
