package accounts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"ward/audit"
	"ward/internal/db"
)

// validLocalpart reports why a requested localpart cannot be used, or nil.
// Spec: appendices "User Identifiers": lower-case a-z, 0-9, and ._=-/+, and
// the whole user ID at most 255 bytes.
func (s *Service) validLocalpart(localpart string) error {
	if localpart == "" {
		return mautrix.MInvalidUsername.WithMessage("The username must not be empty")
	}
	for _, c := range []byte(localpart) {
		ok := (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strings.IndexByte("._=-/+", c) >= 0
		if !ok {
			return mautrix.MInvalidUsername.WithMessage("The username may contain only a-z, 0-9 and ._=-/+")
		}
	}
	if len(localpart)+len(s.cfg.ServerName)+2 > 255 {
		return mautrix.MInvalidUsername.WithMessage("The username is too long")
	}
	return nil
}

func (s *Service) userID(localpart string) id.UserID {
	return id.NewUserID(localpart, s.cfg.ServerName)
}

// localpartOf accepts a bare localpart or a full user ID of this server.
func (s *Service) localpartOf(user string) (string, bool) {
	if strings.HasPrefix(user, "@") {
		lp, server, err := id.UserID(user).ParseAndValidateRelaxed()
		if err != nil || server != s.cfg.ServerName {
			return "", false
		}
		return lp, true
	}
	return user, true
}

var errUserInUse = mautrix.MUserInUse.WithMessage("That user ID is already taken")

// createUser inserts the account row; the caller's transaction decides
// whether it also logs in.
func (s *Service) createUser(ctx context.Context, tx *sql.Tx, localpart, password string, admin bool) (id.UserID, error) {
	if err := s.validLocalpart(localpart); err != nil {
		return "", err
	}
	hash := ""
	if password != "" {
		var err error
		if hash, err = hashNewPassword(password); err != nil {
			return "", err
		}
	}
	uid := s.userID(localpart)
	_, err := tx.ExecContext(ctx, `INSERT INTO users (user_id, localpart, password_hash, is_admin, deactivated, displayname, created_ts)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, uid, localpart, hash, admin, false, localpart, s.nowMS())
	if db.IsUniqueViolation(err) {
		return "", errUserInUse
	}
	if err != nil {
		return "", fmt.Errorf("insert user: %w", err)
	}
	e := audit.Entry{Action: audit.ActionRegister, TargetUser: string(uid), Detail: map[string]string{"admin": fmt.Sprint(admin)}}
	if r := audit.RequestFrom(ctx); r == nil || r.User == "" {
		// Self-registration: the new account is its own actor.
		e.ActorUser = string(uid)
	}
	if err := s.record(ctx, tx, e); err != nil {
		return "", err
	}
	return uid, nil
}

// CreateUser makes a local account (used by `ward admin user create` and
// shared-secret registration). M_USER_IN_USE when the localpart is taken.
func (s *Service) CreateUser(ctx context.Context, localpart, password string, admin bool) (id.UserID, error) {
	var uid id.UserID
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		uid, err = s.createUser(ctx, tx, localpart, password, admin)
		return err
	})
	return uid, err
}

// userRow is what login and UIA need of an account.
type userRow struct {
	userID       id.UserID
	passwordHash string
	admin        bool
	deactivated  bool
}

func (s *Service) lookupUser(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, localpart string) (userRow, bool, error) {
	var u userRow
	var uid string
	err := q.QueryRowContext(ctx, `SELECT user_id, password_hash, is_admin, deactivated FROM users WHERE localpart = $1`, localpart).
		Scan(&uid, &u.passwordHash, &u.admin, &u.deactivated)
	if errors.Is(err, sql.ErrNoRows) {
		return userRow{}, false, nil
	}
	if err != nil {
		return userRow{}, false, fmt.Errorf("look up user: %w", err)
	}
	u.userID = id.UserID(uid)
	return u, true, nil
}

// UserExists reports whether user is a local account (deactivated ones
// included: their IDs are never reused).
func (s *Service) UserExists(ctx context.Context, user id.UserID) (bool, error) {
	var n int
	err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE user_id = $1`, user).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("look up user: %w", err)
	}
	return n > 0, nil
}

// IsAdmin reports whether user is an active admin account; false for a
// user who does not exist.
func (s *Service) IsAdmin(ctx context.Context, user id.UserID) (bool, error) {
	var admin, deactivated bool
	err := s.db.Read.QueryRowContext(ctx, `SELECT is_admin, deactivated FROM users WHERE user_id = $1`, user).
		Scan(&admin, &deactivated)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("look up user: %w", err)
	}
	return admin && !deactivated, nil
}

var errBadLogin = mautrix.MForbidden.WithMessage("Invalid username or password")

// verifyPassword checks user's password; every failure looks the same to
// the caller, and costs the same time whether or not the user exists.
func (s *Service) verifyPassword(ctx context.Context, user, password string) (userRow, error) {
	lp, ok := s.localpartOf(user)
	if !ok || len(password) > maxPasswordBytes || password == "" {
		_, _ = checkPassword(dummyHash(), password)
		return userRow{}, errBadLogin
	}
	u, found, err := s.lookupUser(ctx, s.db.Read, lp)
	if err != nil {
		return userRow{}, err
	}
	if !found && lp != strings.ToLower(lp) {
		u, found, err = s.lookupUser(ctx, s.db.Read, strings.ToLower(lp))
		if err != nil {
			return userRow{}, err
		}
	}
	if !found || u.passwordHash == "" {
		_, _ = checkPassword(dummyHash(), password)
		return userRow{}, errBadLogin
	}
	match, err := checkPassword(u.passwordHash, password)
	if err != nil {
		return userRow{}, fmt.Errorf("check password of %s: %w", u.userID, err)
	}
	if !match {
		return userRow{}, errBadLogin
	}
	if u.deactivated {
		return userRow{}, mautrix.MUserDeactivated.WithStatus(403).WithMessage("This account has been deactivated")
	}
	return u, nil
}
