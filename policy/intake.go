package policy

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

// Intake tokens are registration tokens an admin hands to a new patient or
// colleague (on paper, by text message): redeemed through /register's
// m.login.registration_token stage, they create the account and give it the
// role, care teams and assigned providers chosen when the token was made, in
// the same transaction. Only a hash of a token is stored.

// DefaultIntakeLifetime is how long a token is good for when its creator
// does not say.
const DefaultIntakeLifetime = 7 * 24 * time.Hour

// maxIntakeLifetime keeps forgotten tokens from staying valid for ever.
const maxIntakeLifetime = 366 * 24 * time.Hour

// maxIntakeUses bounds how many accounts one token may create.
const maxIntakeUses = 10000

// IntakeSpec is what a new intake token grants.
type IntakeSpec struct {
	Role      Role        `json:"role"`
	Teams     []string    `json:"care_teams,omitempty"`
	Providers []id.UserID `json:"providers,omitempty"`
	// Uses is how many accounts the token may create (default 1).
	Uses int `json:"uses,omitempty"`
	// Lifetime is how long the token is good for (default
	// DefaultIntakeLifetime).
	Lifetime time.Duration `json:"-"`
	// Localpart binds the token to an account made beforehand without a
	// password (a roster row without one): redeeming it sets that account's
	// password. Such a token grants nothing else; the roster already did.
	Localpart string `json:"localpart,omitempty"`
}

// IntakeToken is a stored token as admins see it (never the secret).
type IntakeToken struct {
	ID          string      `json:"token_id"`
	Role        Role        `json:"role,omitempty"`
	Teams       []string    `json:"care_teams"`
	Providers   []id.UserID `json:"providers"`
	Localpart   string      `json:"localpart,omitempty"`
	UsesAllowed int         `json:"uses_allowed"`
	Uses        int         `json:"uses"`
	ExpiresAt   time.Time   `json:"-"`
	ExpiresTS   int64       `json:"expires_ts"`
	RevokedTS   int64       `json:"revoked_ts,omitempty"`
	CreatedBy   string      `json:"created_by"`
	CreatedTS   int64       `json:"created_ts"`
	// State is "valid", "expired", "used up" or "revoked".
	State string `json:"state"`
}

// tokenAlphabet leaves out letters easily misread on paper (l, o, 0, 1).
const tokenAlphabet = "abcdefghijkmnpqrstuvwxyz23456789"

// newIntakeSecret returns 16 random characters (80 bits) in four groups,
// easy to type from a printed sheet; within the spec's opaque identifier
// grammar.
func newIntakeSecret() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	var s strings.Builder
	for i, c := range b {
		if i > 0 && i%4 == 0 {
			s.WriteByte('-')
		}
		s.WriteByte(tokenAlphabet[int(c)%len(tokenAlphabet)])
	}
	return s.String()
}

func newTokenID() string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return "it_" + hex.EncodeToString(b[:])
}

// hashIntake is how a token is stored and looked up. Typing mistakes of
// case and surrounding spaces are forgiven.
func hashIntake(token string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(token))))
	return hex.EncodeToString(sum[:])
}

// CreateIntakeToken makes a token and returns its secret, shown once.
func (s *Service) CreateIntakeToken(ctx context.Context, spec IntakeSpec, createdBy string) (secret string, tok IntakeToken, err error) {
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		secret, tok, err = s.CreateIntakeTokenTx(ctx, tx, spec, createdBy)
		return err
	})
	return secret, tok, err
}

// CreateIntakeTokenTx is CreateIntakeToken inside a caller's transaction.
func (s *Service) CreateIntakeTokenTx(ctx context.Context, tx *sql.Tx, spec IntakeSpec, createdBy string) (string, IntakeToken, error) {
	if spec.Localpart == "" && !spec.Role.Valid() {
		return "", IntakeToken{}, mautrix.MInvalidParam.WithMessage("An intake token needs a role (%s)", roleList())
	}
	if spec.Uses == 0 {
		spec.Uses = 1
	}
	if spec.Uses < 0 || spec.Uses > maxIntakeUses {
		return "", IntakeToken{}, mautrix.MInvalidParam.WithMessage("An intake token is good for 1 to %d uses, not %d", maxIntakeUses, spec.Uses)
	}
	if spec.Lifetime == 0 {
		spec.Lifetime = DefaultIntakeLifetime
	}
	if spec.Lifetime < 0 {
		return "", IntakeToken{}, mautrix.MInvalidParam.WithMessage("An intake token's lifetime must be positive, not %s", spec.Lifetime)
	}
	if spec.Lifetime > maxIntakeLifetime {
		return "", IntakeToken{}, mautrix.MInvalidParam.WithMessage("An intake token expires within %d days", int(maxIntakeLifetime.Hours()/24))
	}
	if len(spec.Teams) > 0 && spec.Role != RolePatient && !spec.Role.Clinician() {
		return "", IntakeToken{}, mautrix.MInvalidParam.WithMessage("Only patients and clinicians belong to care teams")
	}
	for _, t := range spec.Teams {
		if err := checkTeamName(t); err != nil {
			return "", IntakeToken{}, err
		}
		// Unlike the roster import, which creates the teams it names, a
		// token names teams that exist: a typing mistake would otherwise
		// go unnoticed until someone signs up into a team of one.
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM care_teams WHERE name = $1`, t).Scan(&n); err != nil {
			return "", IntakeToken{}, fmt.Errorf("look up care team %q: %w", t, err)
		}
		if n == 0 {
			return "", IntakeToken{}, mautrix.MInvalidParam.WithMessage("No care team %q (create it first, or check the spelling)", t)
		}
	}
	if len(spec.Providers) > 0 && spec.Role != RolePatient {
		return "", IntakeToken{}, mautrix.MInvalidParam.WithMessage("Only patients have assigned providers")
	}
	for _, p := range spec.Providers {
		if err := s.requireAccountTx(ctx, tx, p); err != nil {
			return "", IntakeToken{}, err
		}
		if err := requireRole(ctx, tx, p, RoleProvider); err != nil {
			return "", IntakeToken{}, err
		}
	}
	secret := newIntakeSecret()
	now := s.now()
	tok := IntakeToken{
		ID: newTokenID(), Role: spec.Role, Teams: spec.Teams, Providers: spec.Providers, Localpart: spec.Localpart,
		UsesAllowed: spec.Uses, ExpiresAt: now.Add(spec.Lifetime), CreatedBy: createdBy, CreatedTS: now.UnixMilli(), State: "valid",
	}
	tok.ExpiresTS = tok.ExpiresAt.UnixMilli()
	providers := make([]string, len(spec.Providers))
	for i, p := range spec.Providers {
		providers[i] = string(p)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO intake_tokens (token_id, token_hash, role, care_teams, providers, localpart,
		uses_allowed, uses, expires_ts, revoked_ts, created_by, created_ts) VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, 0, $9, $10)`,
		tok.ID, hashIntake(secret), string(spec.Role), strings.Join(spec.Teams, ";"), strings.Join(providers, ";"), spec.Localpart,
		spec.Uses, tok.ExpiresTS, createdBy, tok.CreatedTS)
	if err != nil {
		return "", IntakeToken{}, fmt.Errorf("store intake token: %w", err)
	}
	return secret, tok, nil
}

func roleList() string {
	names := make([]string, len(Roles))
	for i, r := range Roles {
		names[i] = string(r)
	}
	return strings.Join(names, ", ")
}

// maxTeamNameChars bounds a care team's name: long enough for
// "Cardiology, outpatient clinic north", short enough to show in a list.
const maxTeamNameChars = 64

// checkTeamName is the one rule for a care team's name, wherever it comes
// from (the admin commands and API, intake tokens, the roster): a name
// people read and compare, so nothing in it may be invisible or reorder
// what is shown (a right-to-left override makes "txet" look like "text").
func checkTeamName(name string) error {
	bad := func(why string) error {
		return mautrix.MInvalidParam.WithMessage("Invalid care team name %+q: %s", name, why)
	}
	switch {
	case strings.TrimSpace(name) == "":
		return bad("it is empty")
	case !utf8.ValidString(name):
		return bad("it is not UTF-8")
	case utf8.RuneCountInString(name) > maxTeamNameChars:
		return bad(fmt.Sprintf("longer than %d characters", maxTeamNameChars))
	case strings.TrimSpace(name) != name:
		return bad("it starts or ends with a space")
	case strings.ContainsAny(name, ";/"):
		return bad("no ';' or '/'")
	}
	for _, r := range name {
		if invisibleRune(r) {
			return bad(fmt.Sprintf("it holds the invisible or control character %U", r))
		}
	}
	return nil
}

// invisibleRune reports a character that shows nothing or changes how
// the text around it is shown: controls (Cc), formatting characters such
// as bidi overrides, isolates and zero-width joiners (Cf), line and
// paragraph separators, spaces other than the plain one, private-use,
// surrogate and unassigned code points, noncharacters, variation selectors and the other default
// ignorable code points (the Hangul fillers, U+034F).
func invisibleRune(r rune) bool {
	switch {
	case r == ' ':
		return false
	case unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs, unicode.Zl, unicode.Zp, unicode.Zs,
		unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector, unicode.Noncharacter_Code_Point):
		return true
	}
	return !unicode.IsGraphic(r)
}

// requireRole checks that user has role, in tx.
func requireRole(ctx context.Context, tx *sql.Tx, user id.UserID, want Role) error {
	var role string
	err := tx.QueryRowContext(ctx, `SELECT role FROM clinic_roles WHERE user_id = $1`, string(user)).Scan(&role)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if Role(role) != want {
		if role == "" {
			role = "no role"
		}
		return mautrix.MInvalidParam.WithMessage("%s is not a %s (%s)", user, want, role)
	}
	return nil
}

// validToken is the SQL condition of a token that may still be redeemed.
const validToken = `revoked_ts = 0 AND uses < uses_allowed AND expires_ts > $2`

// TokenValid reports whether token may still be redeemed.
func (s *Service) TokenValid(ctx context.Context, token string) (bool, error) {
	_, ok, err := s.TokenLocalpart(ctx, token)
	return ok, err
}

// TokenLocalpart reports whether token may still be redeemed and the
// password-less account it is bound to, if any.
func (s *Service) TokenLocalpart(ctx context.Context, token string) (string, bool, error) {
	if len(token) > 64 {
		return "", false, nil
	}
	var lp string
	err := s.db.Read.QueryRowContext(ctx, `SELECT localpart FROM intake_tokens WHERE token_hash = $1 AND `+validToken,
		hashIntake(token), s.now().UnixMilli()).Scan(&lp)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("look up intake token: %w", err)
	}
	return lp, true, nil
}

// LocalpartReserved reports whether a pending token is bound to localpart.
func (s *Service) LocalpartReserved(ctx context.Context, localpart string) (bool, error) {
	var n int
	err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM intake_tokens WHERE localpart = $1 AND `+validToken,
		localpart, s.now().UnixMilli()).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("look up intake tokens: %w", err)
	}
	return n > 0, nil
}

func localpartReservedTx(ctx context.Context, tx *sql.Tx, localpart string, now time.Time) (bool, error) {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM intake_tokens WHERE localpart = $1 AND `+validToken,
		localpart, now.UnixMilli()).Scan(&n)
	return n > 0, err
}

// RedeemTokenTx spends one use of token for the new account user and
// applies its role, care teams and providers, all in the caller's
// transaction (the one creating the account). ok is false when the token
// can no longer be used.
func (s *Service) RedeemTokenTx(ctx context.Context, tx *sql.Tx, token string, user id.UserID) (bool, error) {
	h := hashIntake(token)
	res, err := tx.ExecContext(ctx, `UPDATE intake_tokens SET uses = uses + 1 WHERE token_hash = $1 AND `+validToken,
		h, s.now().UnixMilli())
	if err != nil {
		return false, fmt.Errorf("spend intake token: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return false, nil
	}
	var tokID, role, teams, providers, lp string
	if err := tx.QueryRowContext(ctx, `SELECT token_id, role, care_teams, providers, localpart FROM intake_tokens WHERE token_hash = $1`, h).
		Scan(&tokID, &role, &teams, &providers, &lp); err != nil {
		return false, err
	}
	if lp == "" {
		if err := s.applyGrant(ctx, tx, user, Role(role), splitList(teams), splitList(providers)); err != nil {
			return false, err
		}
	}
	if err := s.auditIntakeUse(ctx, tx, user, tokID, Role(role), lp != ""); err != nil {
		return false, err
	}
	s.log.InfoContext(ctx, "intake token redeemed", "token_id", tokID, "user", user, "role", role)
	return true, nil
}

// applyGrant gives a new account what its intake token grants.
func (s *Service) applyGrant(ctx context.Context, tx *sql.Tx, user id.UserID, role Role, teams, providers []string) error {
	if role == "" {
		return nil
	}
	if err := s.SetRoleTx(ctx, tx, user, role); err != nil {
		return err
	}
	kind := KindClinician
	if role == RolePatient {
		kind = KindPatient
	}
	for _, t := range teams {
		if err := s.AddToTeamTx(ctx, tx, t, user, kind); err != nil {
			return err
		}
	}
	for _, p := range providers {
		if err := s.AssignTx(ctx, tx, id.UserID(p), user); err != nil {
			return err
		}
	}
	return nil
}

func splitList(v string) []string {
	var out []string
	for _, x := range strings.Split(v, ";") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// IntakeTokens lists every token, newest first.
func (s *Service) IntakeTokens(ctx context.Context) ([]IntakeToken, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT token_id, role, care_teams, providers, localpart, uses_allowed, uses,
		expires_ts, revoked_ts, created_by, created_ts FROM intake_tokens ORDER BY created_ts DESC, token_id`)
	if err != nil {
		return nil, fmt.Errorf("list intake tokens: %w", err)
	}
	defer rows.Close()
	now := s.now().UnixMilli()
	out := []IntakeToken{}
	for rows.Next() {
		var t IntakeToken
		var role, teams, providers string
		if err := rows.Scan(&t.ID, &role, &teams, &providers, &t.Localpart, &t.UsesAllowed, &t.Uses,
			&t.ExpiresTS, &t.RevokedTS, &t.CreatedBy, &t.CreatedTS); err != nil {
			return nil, err
		}
		t.Role = Role(role)
		t.Teams = splitList(teams)
		if t.Teams == nil {
			t.Teams = []string{}
		}
		t.Providers = []id.UserID{}
		for _, p := range splitList(providers) {
			t.Providers = append(t.Providers, id.UserID(p))
		}
		t.ExpiresAt = time.UnixMilli(t.ExpiresTS)
		switch {
		case t.RevokedTS != 0:
			t.State = "revoked"
		case t.Uses >= t.UsesAllowed:
			t.State = "used up"
		case t.ExpiresTS <= now:
			t.State = "expired"
		default:
			t.State = "valid"
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeIntakeToken makes a token unusable at once.
func (s *Service) RevokeIntakeToken(ctx context.Context, tokenID string) error {
	return s.db.Tx(ctx, func(tx *sql.Tx) error { return s.RevokeIntakeTokenTx(ctx, tx, tokenID) })
}

// RevokeIntakeTokenTx is RevokeIntakeToken inside a caller's transaction.
func (s *Service) RevokeIntakeTokenTx(ctx context.Context, tx *sql.Tx, tokenID string) error {
	{
		res, err := tx.ExecContext(ctx, `UPDATE intake_tokens SET revoked_ts = $1 WHERE token_id = $2 AND revoked_ts = 0`,
			s.now().UnixMilli(), tokenID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM intake_tokens WHERE token_id = $1`, tokenID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return mautrix.MNotFound.WithMessage("No intake token %q", tokenID)
		}
		return nil // already revoked
	}
}
