package accounts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

const (
	maxDisplayNameBytes = 256
	maxAvatarURLBytes   = 1024
)

var errNoProfile = mautrix.MNotFound.WithMessage("Profile not found")

// Profile returns a user's display name and avatar URL ("" when unset);
// M_NOT_FOUND when the user is not a local account.
//
// Spec: client-server-api "Profiles", GET /profile/{userId}.
func (s *Service) Profile(ctx context.Context, user id.UserID) (displayName, avatarURL string, err error) {
	err = s.db.Read.QueryRowContext(ctx, `SELECT displayname, avatar_url FROM users WHERE user_id = $1`, user).
		Scan(&displayName, &avatarURL)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", errNoProfile
	}
	if err != nil {
		return "", "", fmt.Errorf("read profile: %w", err)
	}
	return displayName, avatarURL, nil
}

// SetDisplayName sets the caller's display name ("" removes it).
//
// Spec: client-server-api PUT /profile/{userId}/displayname.
func (s *Service) SetDisplayName(ctx context.Context, sess Session, user id.UserID, name string) error {
	if len(name) > maxDisplayNameBytes {
		return mautrix.MInvalidParam.WithMessage("The display name is longer than %d bytes", maxDisplayNameBytes)
	}
	return s.setProfileField(ctx, sess, user, "displayname", name)
}

// SetAvatarURL sets the caller's avatar ("" removes it); it must be an
// mxc:// URI.
//
// Spec: client-server-api PUT /profile/{userId}/avatar_url.
func (s *Service) SetAvatarURL(ctx context.Context, sess Session, user id.UserID, url string) error {
	if len(url) > maxAvatarURLBytes {
		return mautrix.MInvalidParam.WithMessage("The avatar URL is too long")
	}
	if url != "" && !strings.HasPrefix(url, "mxc://") {
		return mautrix.MInvalidParam.WithMessage("The avatar URL must be an mxc:// URI")
	}
	return s.setProfileField(ctx, sess, user, "avatar_url", url)
}

func (s *Service) setProfileField(ctx context.Context, sess Session, user id.UserID, column, value string) error {
	if user != sess.UserID {
		return mautrix.MForbidden.WithMessage("You cannot change another user's profile")
	}
	// column is one of two constants above, never client input.
	q := `UPDATE users SET ` + column + ` = $1 WHERE user_id = $2`
	var n int64
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, q, value, user)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("set %s: %w", column, err)
	}
	if n == 0 {
		return errNoProfile
	}
	return nil
}
