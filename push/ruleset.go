package push

import (
	"encoding/json"
	"slices"
	"strings"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
	"maunium.net/go/mautrix/pushrules"

	"ward/internal/matrixid"
)

// Errors the API shows. The spec names 404 M_NOT_FOUND for a rule that
// does not exist and 400 for a rule that cannot be configured.
var (
	ErrNotFound     = mautrix.MNotFound.WithMessage("The push rule was not found.")
	errUnknownScope = mautrix.MInvalidParam.WithMessage("Unknown push rule scope; only \"global\" exists")
	errUnknownKind  = mautrix.MInvalidParam.WithMessage("Unknown push rule kind; one of override, content, room, sender, underride")
)

// rules is a user's ruleset taken apart: the server defaults with the
// user's changes (enabled, actions) applied, and the user's own rules, each
// kind in priority order.
type rules struct {
	defaults Ruleset
	own      Ruleset
}

// load takes stored m.push_rules content (nil: never written) apart against
// the current server defaults. A stored default the server no longer has
// is dropped; a default the server added since is taken as it is.
func load(user id.UserID, stored json.RawMessage) rules {
	r := rules{defaults: Defaults(user), own: Ruleset{Override: []Rule{}, Content: []Rule{}, Room: []Rule{}, Sender: []Rule{}, Underride: []Rule{}}}
	if stored == nil {
		return r
	}
	var c Content
	if json.Unmarshal(stored, &c) != nil {
		return r
	}
	for _, k := range Kinds {
		defs := r.defaults.list(k)
		for _, rule := range *c.Global.list(k) {
			if rule.Default || strings.HasPrefix(rule.RuleID, ".") {
				if i := slices.IndexFunc(*defs, func(d Rule) bool { return d.RuleID == rule.RuleID }); i >= 0 {
					(*defs)[i].Enabled = rule.Enabled
					if rule.Actions != nil {
						(*defs)[i].Actions = rule.Actions
					}
				}
				continue
			}
			rule.Default = false
			normalise(k, &rule)
			own := r.own.list(k)
			*own = append(*own, rule)
		}
	}
	return r
}

// normalise gives a rule exactly the fields its kind has.
func normalise(k Kind, rule *Rule) {
	if rule.Actions == nil {
		rule.Actions = []json.RawMessage{}
	}
	switch k {
	case pushrules.OverrideRule, pushrules.UnderrideRule:
		if rule.Conditions == nil {
			rule.Conditions = []json.RawMessage{}
		}
		rule.Pattern = nil
	case pushrules.ContentRule:
		rule.Conditions = nil
		if rule.Pattern == nil {
			empty := ""
			rule.Pattern = &empty
		}
	default:
		rule.Conditions, rule.Pattern = nil, nil
	}
}

// merged is the ruleset a client sees. Server-default rules rank below the
// user's own, except .m.rule.master, which ranks above everything.
//
// Spec: client-server-api "Predefined Rules".
func (r rules) merged() Ruleset {
	var out Ruleset
	for _, k := range Kinds {
		defs, own := *r.defaults.list(k), *r.own.list(k)
		list := make([]Rule, 0, len(defs)+len(own))
		if k == pushrules.OverrideRule && len(defs) > 0 && defs[0].RuleID == masterRuleID {
			list = append(list, defs[0])
			defs = defs[1:]
		}
		list = append(list, own...)
		list = append(list, defs...)
		*out.list(k) = list
	}
	return out
}

func (r rules) content() (json.RawMessage, error) {
	return json.Marshal(Content{Global: r.merged()})
}

// find returns the rule kind/ruleID, default or own.
func (r *rules) find(k Kind, ruleID string) *Rule {
	for _, rs := range []*Ruleset{&r.defaults, &r.own} {
		list := *rs.list(k)
		for i := range list {
			if list[i].RuleID == ruleID {
				return &list[i]
			}
		}
	}
	return nil
}

// RuleBody is what a client sends to create or replace a rule.
type RuleBody struct {
	Actions    []json.RawMessage `json:"actions"`
	Conditions []json.RawMessage `json:"conditions"`
	Pattern    *string           `json:"pattern"`
}

// put creates or replaces the user's rule k/ruleID. A new rule without
// before or after becomes the user's most important rule of its kind; a
// replaced one keeps its place unless before or after moves it. With both,
// before wins, as the spec says.
//
// Spec: client-server-api PUT /pushrules/{scope}/{kind}/{ruleId}.
func (r *rules) put(k Kind, ruleID string, body RuleBody, before, after string) error {
	if err := checkOwnRuleID(k, ruleID); err != nil {
		return err
	}
	acts, err := checkActions(body.Actions)
	if err != nil {
		return err
	}
	rule := Rule{RuleID: ruleID, Enabled: true, Actions: acts}
	switch k {
	case pushrules.OverrideRule, pushrules.UnderrideRule:
		for _, c := range body.Conditions {
			var probe struct {
				Kind string `json:"kind"`
			}
			if json.Unmarshal(c, &probe) != nil || probe.Kind == "" {
				return mautrix.MBadJSON.WithMessage("Each condition must be an object with a string kind")
			}
		}
		rule.Conditions = slices.Clone(body.Conditions)
	case pushrules.ContentRule:
		if body.Pattern == nil {
			return missingParam("A content rule needs a pattern")
		}
		rule.Pattern = body.Pattern
	}
	normalise(k, &rule)

	own := r.own.list(k)
	at := 0
	if i := slices.IndexFunc(*own, func(o Rule) bool { return o.RuleID == ruleID }); i >= 0 {
		// A replaced rule is written anew, enabled like a created one.
		*own = slices.Delete(*own, i, i+1)
		at = i
	}
	rel, offset := before, 0
	if rel == "" && after != "" {
		rel, offset = after, 1
	}
	if rel != "" {
		if strings.HasPrefix(rel, ".") {
			return mautrix.MInvalidParam.WithMessage("A rule cannot be placed relative to a server-default rule")
		}
		i := slices.IndexFunc(*own, func(o Rule) bool { return o.RuleID == rel })
		if i < 0 {
			return mautrix.RespError{ErrCode: mautrix.MUnknown.ErrCode, StatusCode: 400}.WithMessage("before/after rule not found: %s", rel)
		}
		at = i + offset
	}
	*own = slices.Insert(*own, at, rule)
	return nil
}

// remove deletes the user's rule k/ruleID; server-default rules cannot be
// deleted (only disabled).
func (r *rules) remove(k Kind, ruleID string) error {
	if strings.HasPrefix(ruleID, ".") && r.find(k, ruleID) != nil {
		return mautrix.MInvalidParam.WithMessage("Server-default push rules cannot be deleted; disable them instead")
	}
	own := r.own.list(k)
	i := slices.IndexFunc(*own, func(o Rule) bool { return o.RuleID == ruleID })
	if i < 0 {
		return ErrNotFound
	}
	*own = slices.Delete(*own, i, i+1)
	return nil
}

// checkOwnRuleID refuses IDs reserved for the server and IDs that cannot
// name the room or sender their kind requires.
func checkOwnRuleID(k Kind, ruleID string) error {
	switch {
	case ruleID == "":
		return mautrix.MInvalidParam.WithMessage("Empty rule ID")
	case strings.HasPrefix(ruleID, "."):
		return mautrix.MInvalidParam.WithMessage("Rule IDs starting with a dot are reserved for server-default rules")
	case strings.ContainsAny(ruleID, `/\`):
		return mautrix.MInvalidParam.WithMessage("Rule IDs cannot contain slashes or backslashes")
	case len(ruleID) > 255:
		return mautrix.MInvalidParam.WithMessage("Rule ID too long")
	}
	switch k {
	case pushrules.RoomRule:
		if !strings.HasPrefix(ruleID, "!") {
			return mautrix.MInvalidParam.WithMessage("The rule ID of a room rule is the room's ID")
		}
	case pushrules.SenderRule:
		if err := matrixid.CheckUserID(id.UserID(ruleID)); err != nil {
			return mautrix.MInvalidParam.WithMessage("The rule ID of a sender rule is the sender's user ID")
		}
	}
	return nil
}

// checkActions accepts the spec's actions (a string, or an object with
// set_tweak) and strips the historical dont_notify and coalesce, as the
// spec tells servers to.
//
// Spec: client-server-api "Actions", "Historical Actions".
func checkActions(in []json.RawMessage) ([]json.RawMessage, error) {
	if in == nil {
		return nil, missingParam("Missing actions")
	}
	out := []json.RawMessage{}
	for _, a := range in {
		var name string
		if json.Unmarshal(a, &name) == nil {
			switch name {
			case "notify":
				out = append(out, a)
			case "dont_notify", "coalesce":
			default:
				return nil, mautrix.MInvalidParam.WithMessage("Unknown action %q", name)
			}
			continue
		}
		var tweak struct {
			SetTweak *string `json:"set_tweak"`
		}
		if json.Unmarshal(a, &tweak) != nil || tweak.SetTweak == nil || *tweak.SetTweak == "" {
			return nil, mautrix.MInvalidParam.WithMessage("An action is a string or an object with set_tweak")
		}
		out = append(out, a)
	}
	return out, nil
}

// missingParam is the spec's M_MISSING_PARAM (mautrix has no constant).
func missingParam(format string, args ...any) error {
	return mautrix.RespError{ErrCode: "M_MISSING_PARAM", StatusCode: 400}.WithMessage(format, args...)
}
