package push

import (
	"encoding/json"

	"maunium.net/go/mautrix/id"
	"maunium.net/go/mautrix/pushrules"
)

// Kind is the kind of a push rule, which also fixes the order in which
// kinds are checked: override, content, room, sender, underride.
type Kind = pushrules.PushRuleType

// Kinds in the order the spec checks them.
var Kinds = []Kind{pushrules.OverrideRule, pushrules.ContentRule, pushrules.RoomRule, pushrules.SenderRule, pushrules.UnderrideRule}

// Rule is one push rule as the client-server API shows it. Conditions and
// actions are kept as the JSON the spec (or the client) wrote, so that
// nothing is lost or reshaped on the way through: for example a highlight
// tweak without a value means true, and a condition of a kind this server
// does not know must still be listed (it never matches).
type Rule struct {
	RuleID  string `json:"rule_id"`
	Default bool   `json:"default"`
	Enabled bool   `json:"enabled"`
	// Conditions is non-nil exactly for override and underride rules, which
	// always list theirs, even when there are none.
	Conditions []json.RawMessage `json:"conditions,omitzero"`
	// Pattern is set exactly for content rules.
	Pattern *string           `json:"pattern,omitempty"`
	Actions []json.RawMessage `json:"actions"`
}

// Ruleset is the global ruleset of a user, each kind in priority order.
type Ruleset struct {
	Override  []Rule `json:"override"`
	Content   []Rule `json:"content"`
	Room      []Rule `json:"room"`
	Sender    []Rule `json:"sender"`
	Underride []Rule `json:"underride"`
}

// Content is the content of the m.push_rules account-data event.
type Content struct {
	Global Ruleset `json:"global"`
}

func (rs *Ruleset) list(k Kind) *[]Rule {
	switch k {
	case pushrules.OverrideRule:
		return &rs.Override
	case pushrules.ContentRule:
		return &rs.Content
	case pushrules.RoomRule:
		return &rs.Room
	case pushrules.SenderRule:
		return &rs.Sender
	case pushrules.UnderrideRule:
		return &rs.Underride
	}
	return nil
}

// ValidKind reports whether k names a kind of push rule.
func ValidKind(k string) bool {
	var rs Ruleset
	return rs.list(Kind(k)) != nil
}

// condition is a push condition as the spec writes the server-default ones.
// Pattern is a pointer because an empty pattern is meaningful (a state_key
// of "").
type condition struct {
	Kind    string  `json:"kind"`
	Key     string  `json:"key,omitempty"`
	Pattern *string `json:"pattern,omitempty"`
	Is      string  `json:"is,omitempty"`
	Value   any     `json:"value,omitempty"`
}

func raw(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only ever called with the literal values below
	}
	return b
}

func eventMatch(key, pattern string) json.RawMessage {
	return raw(condition{Kind: "event_match", Key: key, Pattern: &pattern})
}

func propertyIs(key string, value any) json.RawMessage {
	return raw(condition{Kind: "event_property_is", Key: key, Value: value})
}

var (
	notify         = raw("notify")
	soundDefault   = raw(map[string]any{"set_tweak": "sound", "value": "default"})
	soundRing      = raw(map[string]any{"set_tweak": "sound", "value": "ring"})
	highlight      = raw(map[string]any{"set_tweak": "highlight"})
	memberCountTwo = raw(condition{Kind: "room_member_count", Is: "2"})
)

func conds(c ...json.RawMessage) []json.RawMessage {
	if c == nil {
		return []json.RawMessage{}
	}
	return c
}

func actions(a ...json.RawMessage) []json.RawMessage {
	if a == nil {
		return []json.RawMessage{}
	}
	return a
}

func serverDefault(ruleID string, enabled bool, c []json.RawMessage, a []json.RawMessage) Rule {
	return Rule{RuleID: ruleID, Default: true, Enabled: enabled, Conditions: c, Actions: a}
}

// masterRuleID is the one server-default rule that outranks the user's own.
const masterRuleID = ".m.rule.master"

// Defaults is the server-default ruleset for user, exactly as the spec
// (v1.19, "Predefined Rules") defines it, in the order it lists the rules.
//
// Since v1.17 the spec has no server-default content rules: the legacy
// mention rules that searched the body (.m.rule.contains_user_name,
// .m.rule.contains_display_name, .m.rule.roomnotif) were removed in favour
// of .m.rule.is_user_mention and .m.rule.is_room_mention, so Ward does not
// offer them.
func Defaults(user id.UserID) Ruleset {
	return Ruleset{
		Override: []Rule{
			serverDefault(masterRuleID, false, conds(), actions()),
			serverDefault(".m.rule.suppress_notices", true,
				conds(eventMatch("content.msgtype", "m.notice")), actions()),
			serverDefault(".m.rule.invite_for_me", true,
				conds(eventMatch("type", "m.room.member"), eventMatch("content.membership", "invite"), eventMatch("state_key", string(user))),
				actions(notify, soundDefault)),
			serverDefault(".m.rule.member_event", true,
				conds(eventMatch("type", "m.room.member")), actions()),
			serverDefault(".m.rule.is_user_mention", true,
				conds(raw(condition{Kind: "event_property_contains", Key: `content.m\.mentions.user_ids`, Value: string(user)})),
				actions(notify, soundDefault, highlight)),
			serverDefault(".m.rule.is_room_mention", true,
				conds(propertyIs(`content.m\.mentions.room`, true), raw(condition{Kind: "sender_notification_permission", Key: "room"})),
				actions(notify, highlight)),
			serverDefault(".m.rule.tombstone", true,
				conds(eventMatch("type", "m.room.tombstone"), eventMatch("state_key", "")),
				actions(notify, highlight)),
			serverDefault(".m.rule.reaction", true,
				conds(eventMatch("type", "m.reaction")), actions()),
			serverDefault(".m.rule.room.server_acl", true,
				conds(eventMatch("type", "m.room.server_acl"), eventMatch("state_key", "")), actions()),
			serverDefault(".m.rule.suppress_edits", true,
				conds(propertyIs(`content.m\.relates_to.rel_type`, "m.replace")), actions()),
		},
		Content: []Rule{},
		Room:    []Rule{},
		Sender:  []Rule{},
		Underride: []Rule{
			serverDefault(".m.rule.call", true,
				conds(eventMatch("type", "m.call.invite")), actions(notify, soundRing)),
			serverDefault(".m.rule.encrypted_room_one_to_one", true,
				conds(memberCountTwo, eventMatch("type", "m.room.encrypted")), actions(notify, soundDefault)),
			serverDefault(".m.rule.room_one_to_one", true,
				conds(memberCountTwo, eventMatch("type", "m.room.message")), actions(notify, soundDefault)),
			serverDefault(".m.rule.message", true,
				conds(eventMatch("type", "m.room.message")), actions(notify)),
			serverDefault(".m.rule.encrypted", true,
				conds(eventMatch("type", "m.room.encrypted")), actions(notify)),
		},
	}
}

// DefaultContent is the m.push_rules account-data content of a user who
// never changed a rule.
func DefaultContent(user id.UserID) json.RawMessage {
	return raw(Content{Global: Defaults(user)})
}
