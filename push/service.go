package push

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"maunium.net/go/mautrix/id"

	"ward/internal/db"
)

// RulesStore keeps a user's m.push_rules account data (accounts does).
type RulesStore interface {
	// PushRules returns the stored content, or nil when never written.
	PushRules(ctx context.Context, user id.UserID) (json.RawMessage, error)
	// UpdatePushRules replaces the content with what change makes of the
	// current one (nil when never written), in one transaction, and lets
	// the user's /sync deliver it. An error from change (a
	// mautrix.RespError) comes back unchanged and nothing is written.
	UpdatePushRules(ctx context.Context, user id.UserID, change func(old json.RawMessage) (json.RawMessage, error)) error
}

// Service is the push domain.
type Service struct {
	db    *db.DB
	store RulesStore
	now   func() time.Time
}

// New returns the push service.
func New(d *db.DB, store RulesStore) *Service {
	return &Service{db: d, store: store, now: time.Now}
}

func checkScope(scope string) error {
	if scope != "global" {
		return errUnknownScope
	}
	return nil
}

func checkKind(kind string) (Kind, error) {
	if !ValidKind(kind) {
		return "", errUnknownKind
	}
	return Kind(kind), nil
}

func (s *Service) load(ctx context.Context, user id.UserID) (rules, error) {
	stored, err := s.store.PushRules(ctx, user)
	if err != nil {
		return rules{}, err
	}
	return load(user, stored), nil
}

// change applies edit to the user's rules and stores the resulting ruleset.
func (s *Service) change(ctx context.Context, user id.UserID, edit func(r *rules) error) error {
	return s.store.UpdatePushRules(ctx, user, func(old json.RawMessage) (json.RawMessage, error) {
		r := load(user, old)
		if err := edit(&r); err != nil {
			return nil, err
		}
		return r.content()
	})
}

// Ruleset returns the user's global ruleset: the server defaults merged with
// the user's own rules and changes.
//
// Spec: client-server-api GET /pushrules/ and GET /pushrules/global/.
func (s *Service) Ruleset(ctx context.Context, user id.UserID, scope string) (Ruleset, error) {
	if scope != "" {
		if err := checkScope(scope); err != nil {
			return Ruleset{}, err
		}
	}
	r, err := s.load(ctx, user)
	if err != nil {
		return Ruleset{}, err
	}
	return r.merged(), nil
}

// Rule returns one rule of the user.
//
// Spec: client-server-api GET /pushrules/{scope}/{kind}/{ruleId}.
func (s *Service) Rule(ctx context.Context, user id.UserID, scope, kind, ruleID string) (Rule, error) {
	if err := checkScope(scope); err != nil {
		return Rule{}, err
	}
	k, err := checkKind(kind)
	if err != nil {
		return Rule{}, err
	}
	r, err := s.load(ctx, user)
	if err != nil {
		return Rule{}, err
	}
	rule := r.find(k, ruleID)
	if rule == nil {
		return Rule{}, ErrNotFound
	}
	return *rule, nil
}

// PutRule creates or replaces a rule of the user (never a server-default
// one), placed by before or after.
//
// Spec: client-server-api PUT /pushrules/{scope}/{kind}/{ruleId}.
func (s *Service) PutRule(ctx context.Context, user id.UserID, scope, kind, ruleID string, body RuleBody, before, after string) error {
	if err := checkScope(scope); err != nil {
		return err
	}
	k, err := checkKind(kind)
	if err != nil {
		return err
	}
	return s.change(ctx, user, func(r *rules) error { return r.put(k, ruleID, body, before, after) })
}

// DeleteRule deletes a rule of the user; server-default rules cannot be
// deleted.
//
// Spec: client-server-api DELETE /pushrules/{scope}/{kind}/{ruleId}.
func (s *Service) DeleteRule(ctx context.Context, user id.UserID, scope, kind, ruleID string) error {
	if err := checkScope(scope); err != nil {
		return err
	}
	k, err := checkKind(kind)
	if err != nil {
		return err
	}
	return s.change(ctx, user, func(r *rules) error { return r.remove(k, ruleID) })
}

// SetEnabled enables or disables a rule, server-default ones included.
//
// Spec: client-server-api PUT /pushrules/{scope}/{kind}/{ruleId}/enabled.
func (s *Service) SetEnabled(ctx context.Context, user id.UserID, scope, kind, ruleID string, enabled bool) error {
	if err := checkScope(scope); err != nil {
		return err
	}
	k, err := checkKind(kind)
	if err != nil {
		return err
	}
	return s.change(ctx, user, func(r *rules) error {
		rule := r.find(k, ruleID)
		if rule == nil {
			return ErrNotFound
		}
		rule.Enabled = enabled
		return nil
	})
}

// SetActions replaces the actions of a rule, server-default ones included.
//
// Spec: client-server-api PUT /pushrules/{scope}/{kind}/{ruleId}/actions.
func (s *Service) SetActions(ctx context.Context, user id.UserID, scope, kind, ruleID string, acts []json.RawMessage) error {
	if err := checkScope(scope); err != nil {
		return err
	}
	k, err := checkKind(kind)
	if err != nil {
		return err
	}
	checked, err := checkActions(acts)
	if err != nil {
		return err
	}
	return s.change(ctx, user, func(r *rules) error {
		rule := r.find(k, ruleID)
		if rule == nil {
			return ErrNotFound
		}
		rule.Actions = checked
		return nil
	})
}

// Content is the user's current m.push_rules content, as GET /pushrules/
// shows it, whether or not anything is stored.
func (s *Service) Content(ctx context.Context, user id.UserID) (json.RawMessage, error) {
	r, err := s.load(ctx, user)
	if err != nil {
		return nil, err
	}
	return r.content()
}

// errStored stops StoreDefaults's write when the rules are already stored.
var errStored = errors.New("push rules already stored")

// StoreDefaults stores the default ruleset for a user who has nothing
// stored, and returns the user's current content. The write takes a stream
// position and so wakes the user's /sync; it exists for the one case where
// that is wanted (see the server's wiring of /sync).
func (s *Service) StoreDefaults(ctx context.Context, user id.UserID) (json.RawMessage, error) {
	err := s.store.UpdatePushRules(ctx, user, func(old json.RawMessage) (json.RawMessage, error) {
		if old != nil {
			return nil, errStored
		}
		return DefaultContent(user), nil
	})
	if err != nil && !errors.Is(err, errStored) {
		return nil, err
	}
	return s.Content(ctx, user)
}
