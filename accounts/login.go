package accounts

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"

	"ward/audit"
)

var errMissingParam = mautrix.RespError{ErrCode: "M_MISSING_PARAM", StatusCode: 400}

// LoginRequest is the body of POST /login.
type LoginRequest struct {
	Type                     string      `json:"type"`
	Identifier               *Identifier `json:"identifier"`
	User                     string      `json:"user"` // legacy form of identifier
	Password                 string      `json:"password"`
	DeviceID                 id.DeviceID `json:"device_id"`
	InitialDeviceDisplayName string      `json:"initial_device_display_name"`
	RefreshToken             bool        `json:"refresh_token"`
}

func checkDevice(device id.DeviceID, displayName string) error {
	if len(device) > 255 || !utf8.ValidString(string(device)) || strings.ContainsFunc(string(device), func(r rune) bool { return r < 0x20 }) {
		return mautrix.MInvalidParam.WithMessage("Invalid device_id")
	}
	if len(displayName) > 1024 {
		return mautrix.MInvalidParam.WithMessage("The device display name is too long")
	}
	return nil
}

// Login checks a password and starts a session on a new or given device.
//
// Spec: client-server-api "Login", POST /login (m.login.password with
// identifier m.id.user, or the legacy top-level user field).
func (s *Service) Login(ctx context.Context, req LoginRequest) (Credentials, error) {
	if req.Type != AuthPassword {
		return Credentials{}, mautrix.MUnknown.WithStatus(400).WithMessage("Unknown login type")
	}
	user := req.User
	if req.Identifier != nil {
		if req.Identifier.Type != "m.id.user" {
			return Credentials{}, mautrix.MUnknown.WithStatus(400).WithMessage("Unsupported identifier type")
		}
		user = req.Identifier.User
	}
	if user == "" {
		return Credentials{}, errMissingParam.WithMessage("A user identifier is required")
	}
	if err := checkDevice(req.DeviceID, req.InitialDeviceDisplayName); err != nil {
		return Credentials{}, err
	}
	u, err := s.verifyPassword(ctx, user, req.Password)
	if err != nil {
		s.auditLoginFailure(ctx, user, err)
		return Credentials{}, err
	}
	var c Credentials
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		c, err = s.startSession(ctx, tx, u.userID, req.DeviceID, req.InitialDeviceDisplayName, req.RefreshToken)
		if err != nil {
			return err
		}
		return s.record(ctx, tx, audit.Entry{Action: audit.ActionLogin, ActorUser: string(c.UserID),
			ActorDevice: string(c.DeviceID), TokenID: audit.TokenID(c.AccessToken)})
	})
	return c, err
}

// RegisterRequest is the body (and kind parameter) of POST /register.
type RegisterRequest struct {
	Kind                     string      `json:"-"`
	Username                 string      `json:"username"`
	Password                 string      `json:"password"`
	DeviceID                 id.DeviceID `json:"device_id"`
	InitialDeviceDisplayName string      `json:"initial_device_display_name"`
	InhibitLogin             bool        `json:"inhibit_login"`
	RefreshToken             bool        `json:"refresh_token"`
	Auth                     *AuthData   `json:"auth"`
}

// Register creates an account through User-Interactive Auth with the
// single stage m.login.dummy, when registration is open. Guests are never
// allowed: a clinic's users are known people.
//
// Spec: client-server-api "Account registration", POST /register,
// "Dummy Auth".
func (s *Service) Register(ctx context.Context, req RegisterRequest) (Credentials, error) {
	switch req.Kind {
	case "", "user":
	case "guest":
		return Credentials{}, mautrix.MForbidden.WithMessage("Guest access is disabled")
	default:
		return Credentials{}, mautrix.MInvalidParam.WithMessage("Unknown kind of account")
	}
	stages := s.registerStages()
	if len(stages) == 0 {
		return Credentials{}, mautrix.MForbidden.WithMessage("Registration is disabled")
	}
	chosen := req.Username != ""
	if !chosen {
		req.Username = randomLocalpart()
	}
	if err := s.validLocalpart(req.Username); err != nil {
		return Credentials{}, err
	}
	if req.Password != "" {
		// Checked before any UIA stage, as the spec lists M_WEAK_PASSWORD
		// among /register's 400 answers.
		if err := CheckNewPassword(req.Password); err != nil {
			return Credentials{}, err
		}
	}
	if err := checkDevice(req.DeviceID, req.InitialDeviceDisplayName); err != nil {
		return Credentials{}, err
	}
	if u, found, err := s.lookupUser(ctx, s.db.Read, req.Username); err != nil {
		return Credentials{}, err
	} else if found {
		if taken, err := s.inUse(ctx, u); err != nil {
			return Credentials{}, err
		} else if taken {
			return Credentials{}, errUserInUse
		}
	}
	if req.Auth == nil || req.Auth.Type == "" {
		// The first request of a sign-up may carry nothing but a device
		// name: Element Web sends {"initial_device_display_name": …} to
		// learn the flows before it shows its form, and a 400 there would
		// tell it that registration is broken. What it does carry is
		// checked above; the password is needed only to finish.
		return Credentials{}, s.startUIA(ctx, "", "register", stages...)
	}
	if req.Password == "" {
		return Credentials{}, errMissingParam.WithMessage("A password is required")
	}
	if (req.Auth.Type == AuthRegistrationToken || req.Auth.Type == authRegistrationTokenUnstable) && s.RegistrationTokens != nil {
		if !chosen {
			req.Username = ""
		}
		return s.registerWithToken(ctx, req, chosen)
	}
	if req.Auth.Type != AuthDummy || stages[0] != AuthDummy {
		a := uiaAnswer(req.Auth.Session, stages...)
		a.ErrCode, a.Err = "M_UNRECOGNIZED", "Unsupported authentication type"
		return Credentials{}, a
	}
	// m.login.dummy proves nothing, so it needs no session: a client may
	// complete it in its first request, as Synapse allows. A session that
	// is given must be live, though, and is spent in the transaction that
	// creates the account, so that a failure keeps it.
	var c Credentials
	var err error
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		if req.Auth.Session != "" {
			if ok, err := s.takeUIASessionTx(ctx, tx, req.Auth.Session, "", "register"); err != nil {
				return err
			} else if !ok {
				return errSessionGone
			}
		}
		uid, err := s.createUser(ctx, tx, req.Username, req.Password, false)
		if err != nil {
			return err
		}
		c.UserID = uid
		if req.InhibitLogin {
			return nil
		}
		c, err = s.startSession(ctx, tx, uid, req.DeviceID, req.InitialDeviceDisplayName, req.RefreshToken)
		return err
	})
	if errors.Is(err, errSessionGone) {
		// Unknown or spent session: start again.
		return Credentials{}, s.startUIA(ctx, "", "register", stages...)
	}
	return c, err
}

func randomLocalpart() string {
	const chars = "abcdefghijklmnopqrstuvwxyz0123456789"
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	for i := range b {
		b[i] = chars[int(b[i])%len(chars)]
	}
	return "u" + string(b[:])
}

// UsernameAvailable checks that a localpart is valid and free.
//
// Spec: client-server-api GET /register/available.
func (s *Service) UsernameAvailable(ctx context.Context, localpart string) error {
	if err := s.validLocalpart(localpart); err != nil {
		return err
	}
	if u, found, err := s.lookupUser(ctx, s.db.Read, localpart); err != nil {
		return err
	} else if found {
		// A password-less account kept for an intake token's holder counts
		// as free, so that Element's sign-up form lets them go on.
		if taken, err := s.inUse(ctx, u); err != nil {
			return err
		} else if taken {
			return errUserInUse
		}
	}
	return nil
}

// nonceLifetimeMS is how long a shared-secret registration nonce is good
// for (Synapse: 60 s).
const nonceLifetimeMS = 60 * 1000

var errSharedSecretOff = mautrix.MUnknown.WithStatus(400).WithMessage("Shared secret registration is not enabled")

// RegistrationNonce hands out a single-use nonce for shared-secret
// registration.
//
// Synapse admin API: GET /_synapse/admin/v1/register.
func (s *Service) RegistrationNonce(ctx context.Context) (string, error) {
	if s.cfg.RegistrationSharedSecret == "" {
		return "", errSharedSecretOff
	}
	var b [20]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("nonce: %w", err)
	}
	nonce := hex.EncodeToString(b[:])
	now := s.nowMS()
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM registration_nonces WHERE created_ts < $1`, now-nonceLifetimeMS); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO registration_nonces (nonce, created_ts) VALUES ($1, $2)`, nonce, now)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("store nonce: %w", err)
	}
	return nonce, nil
}

// SharedSecretRequest is the body of POST /_synapse/admin/v1/register.
type SharedSecretRequest struct {
	Nonce       *string `json:"nonce"`
	Username    *string `json:"username"`
	Password    *string `json:"password"`
	Admin       bool    `json:"admin"`
	UserType    string  `json:"user_type"`
	Displayname string  `json:"displayname"`
	MAC         string  `json:"mac"`
}

// RegisterWithSharedSecret creates an account for whoever knows the
// registration shared secret, and logs it in. The nonce is spent even when
// the rest of the request is wrong, as Synapse does.
//
// Synapse admin API: POST /_synapse/admin/v1/register (HMAC-SHA1 over
// nonce NUL username NUL password NUL admin|notadmin [NUL user_type]).
func (s *Service) RegisterWithSharedSecret(ctx context.Context, req SharedSecretRequest) (Credentials, error) {
	secret := s.cfg.RegistrationSharedSecret
	if secret == "" {
		return Credentials{}, errSharedSecretOff
	}
	if req.Nonce == nil {
		return Credentials{}, mautrix.MBadJSON.WithMessage("nonce must be specified")
	}
	var n int64
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM registration_nonces WHERE nonce = $1 AND created_ts >= $2`,
			*req.Nonce, s.nowMS()-nonceLifetimeMS)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return Credentials{}, fmt.Errorf("spend nonce: %w", err)
	}
	if n != 1 {
		return Credentials{}, mautrix.MUnknown.WithStatus(400).WithMessage("unrecognised nonce")
	}
	if req.Username == nil {
		return Credentials{}, mautrix.MBadJSON.WithMessage("username must be specified")
	}
	if len(*req.Username) > 512 || strings.ContainsRune(*req.Username, 0) {
		return Credentials{}, mautrix.MUnknown.WithStatus(400).WithMessage("Invalid username")
	}
	if req.Password == nil {
		return Credentials{}, mautrix.MBadJSON.WithMessage("password must be specified")
	}
	if len(*req.Password) > maxPasswordBytes || strings.ContainsRune(*req.Password, 0) {
		return Credentials{}, mautrix.MUnknown.WithStatus(400).WithMessage("Invalid password")
	}

	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write([]byte(*req.Nonce))
	mac.Write([]byte{0})
	mac.Write([]byte(*req.Username))
	mac.Write([]byte{0})
	mac.Write([]byte(*req.Password))
	mac.Write([]byte{0})
	if req.Admin {
		mac.Write([]byte("admin"))
	} else {
		mac.Write([]byte("notadmin"))
	}
	if req.UserType != "" {
		mac.Write([]byte{0})
		mac.Write([]byte(req.UserType))
	}
	got, err := hex.DecodeString(strings.ToLower(req.MAC))
	if err != nil || !hmac.Equal(got, mac.Sum(nil)) {
		return Credentials{}, mautrix.MForbidden.WithMessage("HMAC incorrect")
	}
	if err := CheckNewPassword(*req.Password); err != nil {
		return Credentials{}, err
	}
	var c Credentials
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		uid, err := s.createUser(ctx, tx, strings.ToLower(*req.Username), *req.Password, req.Admin)
		if err != nil {
			return err
		}
		if req.Displayname != "" && len(req.Displayname) <= maxDisplayNameBytes {
			if _, err := tx.ExecContext(ctx, `UPDATE users SET displayname = $1 WHERE user_id = $2`, req.Displayname, uid); err != nil {
				return err
			}
		}
		c, err = s.startSession(ctx, tx, uid, "", "", false)
		return err
	})
	return c, err
}
