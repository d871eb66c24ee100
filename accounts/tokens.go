package accounts

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"ward/audit"
)

// lastSeenEvery is how often a token's use is written down: often enough
// for the device list, rare enough that a request is not a write.
const lastSeenEvery = time.Minute

// newToken returns a fresh secret with a prefix saying what it is (so that
// leaked tokens are recognisable by scanners): 32 random bytes, base64url.
func newToken(prefix string) string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// hashToken is how a token is stored and looked up: never in the clear.
func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// newDeviceID returns ten random upper-case letters.
func newDeviceID() id.DeviceID {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return id.DeviceID(b[:])
}

// Credentials are what a login, registration or refresh hands out.
type Credentials struct {
	UserID       id.UserID
	DeviceID     id.DeviceID
	AccessToken  string
	RefreshToken string
	// ExpiresIn is the access token's lifetime; 0 when it never expires.
	ExpiresIn time.Duration
}

// startSession creates (or takes over) a device for user and issues its
// tokens inside tx. An existing device keeps its row but loses its old
// tokens: a login with a known device_id replaces that device's session.
func (s *Service) startSession(ctx context.Context, tx *sql.Tx, user id.UserID, device id.DeviceID, displayName string, withRefresh bool) (Credentials, error) {
	now := s.nowMS()
	if device == "" {
		device = newDeviceID()
	} else if s.DeviceIDReserved != nil {
		reserved, err := s.DeviceIDReserved(ctx, tx, user, device)
		if err != nil {
			return Credentials{}, err
		}
		if reserved {
			return Credentials{}, mautrix.MInvalidParam.WithMessage("Device ID %s is your dehydrated device, which cannot be logged in as; log in as a new device", device)
		}
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO devices (user_id, device_id, display_name, created_ts) VALUES ($1, $2, $3, $4)
		ON CONFLICT (user_id, device_id) DO NOTHING`, user, device, displayName, now)
	if err != nil {
		return Credentials{}, fmt.Errorf("create device: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if err := deleteDeviceTokens(ctx, tx, user, device); err != nil {
			return Credentials{}, err
		}
	} else if err := s.record(ctx, tx, audit.Entry{Action: audit.ActionDeviceAdd, ActorUser: string(user),
		ActorDevice: string(device), TargetUser: string(user)}); err != nil {
		return Credentials{}, err
	}
	return s.issueTokens(ctx, tx, user, device, withRefresh, "")
}

// issueTokens inserts a new access token (and refresh token when asked)
// for an existing device.
func (s *Service) issueTokens(ctx context.Context, tx *sql.Tx, user id.UserID, device id.DeviceID, withRefresh bool, prevRefresh string) (Credentials, error) {
	now := s.nowMS()
	c := Credentials{UserID: user, DeviceID: device, AccessToken: newToken("syt_")}
	var expires int64
	var refreshHash string
	if withRefresh {
		c.RefreshToken = newToken("syr_")
		refreshHash = hashToken(c.RefreshToken)
		if s.cfg.AccessTokenLifetime > 0 {
			c.ExpiresIn = s.cfg.AccessTokenLifetime
			expires = now + s.cfg.AccessTokenLifetime.Milliseconds()
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens (token_hash, user_id, device_id, prev_refresh_hash, created_ts)
			VALUES ($1, $2, $3, $4, $5)`, refreshHash, user, device, prevRefresh, now); err != nil {
			return Credentials{}, fmt.Errorf("insert refresh token: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO access_tokens (token_hash, user_id, device_id, refresh_hash, prev_refresh_hash, expires_ts, created_ts, last_seen_ts)
		VALUES ($1, $2, $3, $4, $5, $6, $7, 0)`, hashToken(c.AccessToken), user, device, refreshHash, prevRefresh, expires, now); err != nil {
		return Credentials{}, fmt.Errorf("insert access token: %w", err)
	}
	return c, nil
}

func deleteDeviceTokens(ctx context.Context, tx *sql.Tx, user id.UserID, device id.DeviceID) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM access_tokens WHERE user_id = $1 AND device_id = $2`, user, device); err != nil {
		return fmt.Errorf("delete access tokens: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM refresh_tokens WHERE user_id = $1 AND device_id = $2`, user, device); err != nil {
		return fmt.Errorf("delete refresh tokens: %w", err)
	}
	return nil
}

var errUnknownToken = mautrix.MUnknownToken.WithMessage("Unknown access token")

// Authenticate resolves an access token to its session and records where
// the device was last seen (at most once a minute per token).
//
// Spec: client-server-api "Using access tokens", "Refreshing access tokens"
// (an expired token is M_UNKNOWN_TOKEN with soft_logout: true).
func (s *Service) Authenticate(ctx context.Context, token, remoteAddr, userAgent string) (Session, error) {
	if token == "" || len(token) > 256 {
		return Session{}, errUnknownToken
	}
	h := hashToken(token)
	var (
		user, device, prevRefresh string
		expires, lastSeen         int64
		admin, deactivated        bool
	)
	err := s.db.Read.QueryRowContext(ctx, `SELECT a.user_id, a.device_id, a.prev_refresh_hash, a.expires_ts, a.last_seen_ts, u.is_admin, u.deactivated
		FROM access_tokens a JOIN users u ON u.user_id = a.user_id WHERE a.token_hash = $1`, h).
		Scan(&user, &device, &prevRefresh, &expires, &lastSeen, &admin, &deactivated)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, errUnknownToken
	}
	if err != nil {
		return Session{}, fmt.Errorf("look up access token: %w", err)
	}
	if deactivated {
		return Session{}, errUnknownToken
	}
	now := s.nowMS()
	if expires > 0 && now >= expires {
		return Session{}, mautrix.MUnknownToken.WithMessage("Access token has expired").WithExtraField("soft_logout", true)
	}
	sess := Session{UserID: id.UserID(user), DeviceID: id.DeviceID(device), IsAdmin: admin}
	if prevRefresh != "" || now-lastSeen >= lastSeenEvery.Milliseconds() {
		err := s.db.Tx(ctx, func(tx *sql.Tx) error {
			if prevRefresh != "" {
				// The new pair has been used: the refresh token it came
				// from is spent.
				if err := revokeRefresh(ctx, tx, prevRefresh); err != nil {
					return err
				}
			}
			if now-lastSeen >= lastSeenEvery.Milliseconds() {
				if _, err := tx.ExecContext(ctx, `UPDATE access_tokens SET last_seen_ts = $1 WHERE token_hash = $2`, now, h); err != nil {
					return err
				}
				if len(userAgent) > 512 {
					userAgent = userAgent[:512]
				}
				if _, err := tx.ExecContext(ctx, `UPDATE devices SET last_seen_ts = $1, last_seen_ip = $2, last_seen_user_agent = $3
					WHERE user_id = $4 AND device_id = $5`, now, remoteAddr, userAgent, sess.UserID, sess.DeviceID); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return Session{}, fmt.Errorf("record token use: %w", err)
		}
	}
	return sess, nil
}

// revokeRefresh deletes a spent refresh token (and any access token still
// issued with it) and clears the links from its successors.
func revokeRefresh(ctx context.Context, tx *sql.Tx, refreshHash string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM refresh_tokens WHERE token_hash = $1`, refreshHash); err != nil {
		return fmt.Errorf("revoke refresh token: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM access_tokens WHERE refresh_hash = $1`, refreshHash); err != nil {
		return fmt.Errorf("revoke access tokens: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE access_tokens SET prev_refresh_hash = '' WHERE prev_refresh_hash = $1`, refreshHash); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET prev_refresh_hash = '' WHERE prev_refresh_hash = $1`, refreshHash); err != nil {
		return err
	}
	return nil
}

// Refresh exchanges a refresh token for a new access and refresh token.
// The old refresh token stays valid until the new pair is first used, so
// that a client that lost the answer can repeat the call; repeating it
// replaces the pair handed out before.
//
// Spec: client-server-api "Refreshing access tokens", POST /refresh.
func (s *Service) Refresh(ctx context.Context, refreshToken string) (Credentials, error) {
	if refreshToken == "" {
		// A missing token is the request's fault (400), not an unknown
		// one (401, which tells the client its session is over).
		return Credentials{}, errMissingParam.WithMessage("refresh_token is required")
	}
	bad := mautrix.MUnknownToken.WithMessage("Unknown refresh token")
	if len(refreshToken) > 256 {
		return Credentials{}, bad
	}
	h := hashToken(refreshToken)
	var c Credentials
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var user, device, prev string
		var deactivated bool
		err := tx.QueryRowContext(ctx, `SELECT r.user_id, r.device_id, r.prev_refresh_hash, u.deactivated
			FROM refresh_tokens r JOIN users u ON u.user_id = r.user_id WHERE r.token_hash = $1`, h).Scan(&user, &device, &prev, &deactivated)
		if errors.Is(err, sql.ErrNoRows) || deactivated {
			return bad
		}
		if err != nil {
			return fmt.Errorf("look up refresh token: %w", err)
		}
		if prev != "" {
			// This token itself was issued from an older one and is now
			// used: the older one is spent.
			if err := revokeRefresh(ctx, tx, prev); err != nil {
				return err
			}
		}
		// A pair handed out from this token before, never used, is
		// replaced by the new one.
		rows, err := tx.QueryContext(ctx, `SELECT token_hash FROM refresh_tokens WHERE prev_refresh_hash = $1`, h)
		if err != nil {
			return err
		}
		var earlier []string
		for rows.Next() {
			var e string
			if err := rows.Scan(&e); err != nil {
				rows.Close()
				return err
			}
			earlier = append(earlier, e)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, e := range earlier {
			if err := revokeRefresh(ctx, tx, e); err != nil {
				return err
			}
		}
		// The access token issued with this refresh token is retired now.
		if _, err := tx.ExecContext(ctx, `DELETE FROM access_tokens WHERE refresh_hash = $1`, h); err != nil {
			return err
		}
		c, err = s.issueTokens(ctx, tx, id.UserID(user), id.DeviceID(device), true, h)
		if err != nil {
			return err
		}
		return s.record(ctx, tx, audit.Entry{Action: audit.ActionTokenRefresh, ActorUser: user, ActorDevice: device,
			TokenID: audit.TokenID(c.AccessToken), Detail: map[string]string{"refresh_token_id": audit.TokenID(refreshToken)}})
	})
	if err != nil && errors.Is(err, bad) {
		s.recordAlone(ctx, audit.Entry{Action: audit.ActionTokenRefresh, Outcome: audit.Failed,
			TokenID: audit.TokenID(refreshToken), Reason: "unknown refresh token"})
	}
	return c, err
}

// Logout ends the caller's session: its device and tokens are deleted.
//
// Spec: client-server-api POST /logout.
func (s *Service) Logout(ctx context.Context, sess Session) error {
	return s.deleteDevicesAs(ctx, sess.UserID, []id.DeviceID{sess.DeviceID}, audit.ActionLogout)
}

// LogoutAll ends every session of the caller's account.
//
// Spec: client-server-api POST /logout/all.
func (s *Service) LogoutAll(ctx context.Context, user id.UserID) error {
	var deleted []id.DeviceID
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		if deleted, err = s.deleteAllDevicesTx(ctx, tx, user); err != nil {
			return err
		}
		return s.record(ctx, tx, audit.Entry{Action: audit.ActionLogoutAll, TargetUser: string(user)})
	})
	if err != nil {
		return err
	}
	// As after a single logout: the devices' keys and inbox go, and those
	// who encrypt to them hear that the device list changed.
	if s.OnDevicesDeleted != nil && len(deleted) > 0 {
		s.OnDevicesDeleted(ctx, user, deleted)
	}
	return nil
}

// deleteAllDevices deletes every device and token of user except keep.
func deleteAllDevices(ctx context.Context, tx *sql.Tx, user id.UserID, keep id.DeviceID) error {
	for _, q := range []string{
		`DELETE FROM access_tokens WHERE user_id = $1 AND device_id <> $2`,
		`DELETE FROM refresh_tokens WHERE user_id = $1 AND device_id <> $2`,
		`DELETE FROM devices WHERE user_id = $1 AND device_id <> $2`,
	} {
		if _, err := tx.ExecContext(ctx, q, user, keep); err != nil {
			return fmt.Errorf("delete devices: %w", err)
		}
	}
	return nil
}
