package accounts

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"

	"maunium.net/go/mautrix/id"

	"ward/audit"
)

// Authentication types this server offers in User-Interactive Auth.
const (
	AuthPassword = "m.login.password"
	AuthDummy    = "m.login.dummy"
)

// uiaSessionLifetime bounds how long a client may take between the stages
// of one User-Interactive Auth.
const uiaSessionLifetimeMS = 60 * 60 * 1000

// Flow is one way through User-Interactive Auth.
type Flow struct {
	Stages []string `json:"stages"`
}

// AuthRequired is User-Interactive Auth's 401 answer: the flows the client
// may complete, its session, the stages done, and, after a failed stage,
// an errcode. The first answer carries no errcode, which is how clients
// tell it from a plain 401.
//
// Spec: client-server-api "User-interactive API in the REST API".
type AuthRequired struct {
	Flows     []Flow         `json:"flows"`
	Params    map[string]any `json:"params"`
	Session   string         `json:"session,omitempty"`
	Completed []string       `json:"completed,omitempty"`
	ErrCode   string         `json:"errcode,omitempty"`
	Err       string         `json:"error,omitempty"`
}

func (e *AuthRequired) Error() string {
	if e.ErrCode != "" {
		return "user-interactive auth: " + e.ErrCode + ": " + e.Err
	}
	return "user-interactive auth required"
}

// Identifier is a user identifier (spec: "Identifier types"); only m.id.user
// is supported.
type Identifier struct {
	Type string `json:"type"`
	User string `json:"user"`
}

// AuthData is the `auth` object of a request protected by UIA.
type AuthData struct {
	Type       string      `json:"type"`
	Session    string      `json:"session"`
	Identifier *Identifier `json:"identifier"`
	User       string      `json:"user"` // legacy form of identifier
	Password   string      `json:"password"`
	Token      string      `json:"token"` // m.login.registration_token
}

func newSessionID() string {
	var b [18]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// startUIA records a new session and returns the 401 that offers flows.
func (s *Service) startUIA(ctx context.Context, user id.UserID, purpose string, stages ...string) error {
	sid := newSessionID()
	now := s.nowMS()
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM uia_sessions WHERE created_ts < $1`, now-uiaSessionLifetimeMS); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO uia_sessions (session_id, user_id, purpose, created_ts) VALUES ($1, $2, $3, $4)`,
			sid, user, purpose, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("start user-interactive auth: %w", err)
	}
	return uiaAnswer(sid, stages...)
}

func uiaAnswer(session string, stages ...string) *AuthRequired {
	flows := make([]Flow, len(stages))
	for i, st := range stages {
		flows[i] = Flow{Stages: []string{st}}
	}
	return &AuthRequired{Flows: flows, Params: map[string]any{}, Session: session}
}

// takeUIASession consumes a session made for purpose (and user), reporting
// whether it existed.
func (s *Service) takeUIASession(ctx context.Context, sid string, user id.UserID, purpose string) (bool, error) {
	var ok bool
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		ok, err = s.takeUIASessionTx(ctx, tx, sid, user, purpose)
		return err
	})
	return ok, err
}

// takeUIASessionTx is takeUIASession inside the transaction that does what
// the session authorised: when that fails, the rollback keeps the session,
// which lasts until it completes or expires (spec: client-server-api
// "User-interactive authentication API").
func (s *Service) takeUIASessionTx(ctx context.Context, tx *sql.Tx, sid string, user id.UserID, purpose string) (bool, error) {
	if sid == "" || len(sid) > 128 {
		return false, nil
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM uia_sessions WHERE session_id = $1 AND user_id = $2 AND purpose = $3 AND created_ts >= $4`,
		sid, user, purpose, s.nowMS()-uiaSessionLifetimeMS)
	if err != nil {
		return false, fmt.Errorf("user-interactive auth session: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("user-interactive auth session: %w", err)
	}
	return n == 1, nil
}

// uiaSessionLive reports whether a session made for purpose (and user) is
// still open, without spending it.
func (s *Service) uiaSessionLive(ctx context.Context, sid string, user id.UserID, purpose string) (bool, error) {
	if sid == "" || len(sid) > 128 {
		return false, nil
	}
	var n int
	err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM uia_sessions WHERE session_id = $1 AND user_id = $2 AND purpose = $3 AND created_ts >= $4`,
		sid, user, purpose, s.nowMS()-uiaSessionLifetimeMS).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("user-interactive auth session: %w", err)
	}
	return n > 0, nil
}

// requirePassword runs User-Interactive Auth with the single stage
// m.login.password for a logged-in user: nil once the user proved their
// password, an *AuthRequired otherwise (M_FORBIDDEN after a wrong one).
//
// Spec: client-server-api "User-interactive API in the REST API",
// "Password-based".
func (s *Service) requirePassword(ctx context.Context, sess Session, auth *AuthData, purpose string) error {
	if auth == nil || auth.Type == "" {
		return s.startUIA(ctx, sess.UserID, purpose, AuthPassword)
	}
	fail := func(code, msg string) error {
		a := uiaAnswer(auth.Session, AuthPassword)
		a.ErrCode, a.Err = code, msg
		return a
	}
	if auth.Type != AuthPassword {
		return fail("M_UNRECOGNIZED", "Unsupported authentication type")
	}
	who := auth.User
	if auth.Identifier != nil {
		if auth.Identifier.Type != "m.id.user" {
			return fail("M_UNRECOGNIZED", "Unsupported identifier type")
		}
		who = auth.Identifier.User
	}
	if who != "" {
		lp, ok := s.localpartOf(who)
		if !ok || s.userID(lp) != sess.UserID {
			return fail("M_FORBIDDEN", "You can only authenticate as yourself")
		}
	}
	var addr string
	if r := audit.RequestFrom(ctx); r != nil {
		addr = r.RemoteAddr
	}
	if err := s.takeUIAPassword(addr, sess.UserID); err != nil {
		return err
	}
	if _, err := s.verifyPassword(ctx, string(sess.UserID), auth.Password); err != nil {
		if errors.Is(err, errBadLogin) {
			s.auditUIAFailure(ctx, sess, purpose)
			return fail("M_FORBIDDEN", "Invalid password")
		}
		return err
	}
	s.refundUIAPassword(addr, sess.UserID)
	// A single-stage flow is complete: the session, if any, is spent.
	if _, err := s.takeUIASession(ctx, auth.Session, sess.UserID, purpose); err != nil {
		return err
	}
	return nil
}
