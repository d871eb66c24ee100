package accounts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

// Registration-token stage of User-Interactive Auth, and its unstable name
// (MSC3231), which some Element versions still send.
const (
	AuthRegistrationToken         = "m.login.registration_token"
	authRegistrationTokenUnstable = "org.matrix.msc3231.login.registration_token"
)

// RegistrationTokens is what registration needs of the clinic's intake
// tokens (the policy package keeps them). With it set, /register offers the
// m.login.registration_token stage even while registration is closed.
type RegistrationTokens interface {
	// TokenValid reports whether token may still be redeemed.
	TokenValid(ctx context.Context, token string) (bool, error)
	// TokenLocalpart reports whether token may still be redeemed and, when
	// it is bound to an account created beforehand without a password, that
	// account's localpart.
	TokenLocalpart(ctx context.Context, token string) (localpart string, ok bool, err error)
	// LocalpartReserved reports whether localpart is a password-less
	// account waiting for the holder of a pending token.
	LocalpartReserved(ctx context.Context, localpart string) (bool, error)
	// RedeemTokenTx spends one use of token for user inside tx and applies
	// what the token grants; ok is false when the token can no longer be
	// used (expired, used up, revoked, unknown).
	RedeemTokenTx(ctx context.Context, tx *sql.Tx, token string, user id.UserID) (ok bool, err error)
}

// registerStages are the single-stage flows /register offers.
func (s *Service) registerStages() []string {
	var st []string
	if s.cfg.Registration == "open" {
		st = append(st, AuthDummy)
	}
	if s.RegistrationTokens != nil {
		st = append(st, AuthRegistrationToken)
	}
	return st
}

// inUse reports whether an existing account's localpart is taken for a new
// registration: it is, unless the account was made password-less for the
// holder of an intake token (a roster row without a password).
func (s *Service) inUse(ctx context.Context, u userRow) (bool, error) {
	if u.passwordHash != "" || u.deactivated || s.RegistrationTokens == nil {
		return true, nil
	}
	lp, _, err := u.userID.ParseAndValidateRelaxed()
	if err != nil {
		return true, nil
	}
	reserved, err := s.RegistrationTokens.LocalpartReserved(ctx, lp)
	return !reserved, err
}

// registerWithToken completes registration through the
// m.login.registration_token stage: the account is created (or, for a token
// bound to a password-less account, given its password) and the token spent
// and applied in one transaction.
//
// Spec: client-server-api "Token-authenticated registration".
func (s *Service) registerWithToken(ctx context.Context, req RegisterRequest, chosen bool) (Credentials, error) {
	stages := s.registerStages()
	fail := func(code, msg string) error {
		a := uiaAnswer(req.Auth.Session, stages...)
		a.ErrCode, a.Err = code, msg
		return a
	}
	refused := fail("M_FORBIDDEN", "This registration token is not valid: unknown, expired, used up or revoked")
	// An unknown or expired session starts again; a live one is kept
	// through every failed stage and spent only with the account's
	// creation, in its transaction.
	live, err := s.uiaSessionLive(ctx, req.Auth.Session, "", "register")
	if err != nil {
		return Credentials{}, err
	}
	if !live {
		return Credentials{}, s.startUIA(ctx, "", "register", stages...)
	}
	if req.Auth.Token == "" {
		return Credentials{}, fail("M_MISSING_PARAM", "A registration token is required")
	}
	bound, ok, err := s.RegistrationTokens.TokenLocalpart(ctx, req.Auth.Token)
	if err != nil {
		return Credentials{}, err
	}
	if !ok {
		return Credentials{}, refused
	}
	if bound != "" {
		if chosen && req.Username != bound {
			// Never name the bound user: the token's holder may not be them.
			return Credentials{}, fail("M_FORBIDDEN", "This registration token is not valid for this username")
		}
		req.Username = bound
	}
	if req.Username == "" {
		req.Username = randomLocalpart()
	}
	var c Credentials
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		if taken, err := s.takeUIASessionTx(ctx, tx, req.Auth.Session, "", "register"); err != nil {
			return err
		} else if !taken {
			return errSessionGone
		}
		u, found, err := s.lookupUser(ctx, tx, req.Username)
		if err != nil {
			return err
		}
		var uid id.UserID
		switch {
		case found && bound == req.Username && u.passwordHash == "" && !u.deactivated:
			hash, err := hashNewPassword(req.Password)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $1 WHERE user_id = $2`, hash, u.userID); err != nil {
				return fmt.Errorf("set password: %w", err)
			}
			uid = u.userID
		case found:
			return errUserInUse
		default:
			if uid, err = s.createUser(ctx, tx, req.Username, req.Password, false); err != nil {
				return err
			}
		}
		ok, err := s.RegistrationTokens.RedeemTokenTx(ctx, tx, req.Auth.Token, uid)
		if err != nil {
			return err
		}
		if !ok {
			return refused
		}
		c.UserID = uid
		if req.InhibitLogin {
			return nil
		}
		c, err = s.startSession(ctx, tx, uid, req.DeviceID, req.InitialDeviceDisplayName, req.RefreshToken)
		return err
	})
	if errors.Is(err, errSessionGone) {
		// Spent or expired since it was checked: start again.
		return Credentials{}, s.startUIA(ctx, "", "register", stages...)
	}
	return c, err
}

// errSessionGone is a UIA session that was live when checked and is no
// longer there when spent (a concurrent request completed it).
var errSessionGone = errors.New("user-interactive auth session gone")

// RegistrationTokenValid answers the validity check a client makes before
// registering with a token.
//
// Spec: client-server-api GET /_matrix/client/v1/register/m.login.registration_token/validity.
func (s *Service) RegistrationTokenValid(ctx context.Context, token string) (bool, error) {
	if s.RegistrationTokens == nil {
		return false, mautrix.MForbidden.WithMessage("Registration is not enabled on this homeserver")
	}
	if token == "" {
		return false, errMissingParam.WithMessage("The token query parameter is required")
	}
	return s.RegistrationTokens.TokenValid(ctx, token)
}
