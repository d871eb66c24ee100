package clientapi

import (
	"encoding/json"
	"net/http"

	"github.com/gorilla/mux"

	"ward/push"
)

// pushRoutes registers push rules and pushers.
//
// Spec: client-server-api "Push Rules: API" and "Push Notifications"
// (pushers). Pushers are stored; nothing is delivered to a push gateway yet.
func (a *API) pushRoutes(r *mux.Router) {
	get, post, put, del := http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete

	// matrix-js-sdk asks for /pushrules/ before its first /sync and retries
	// until it gets an answer; both spellings are served.
	r.HandleFunc("/pushrules/", a.auth(a.handlePushRules)).Methods(get)
	r.HandleFunc("/pushrules", a.auth(a.handlePushRules)).Methods(get)
	r.HandleFunc("/pushrules/{scope}/", a.auth(a.handlePushRuleScope)).Methods(get)
	r.HandleFunc("/pushrules/{scope}", a.auth(a.handlePushRuleScope)).Methods(get)
	r.HandleFunc("/pushrules/{scope}/{kind}/{ruleId}", a.auth(a.handlePushRule)).Methods(get)
	r.HandleFunc("/pushrules/{scope}/{kind}/{ruleId}", a.auth(a.handlePutPushRule)).Methods(put)
	r.HandleFunc("/pushrules/{scope}/{kind}/{ruleId}", a.auth(a.handleDeletePushRule)).Methods(del)
	r.HandleFunc("/pushrules/{scope}/{kind}/{ruleId}/enabled", a.auth(a.handlePushRuleEnabled)).Methods(get)
	r.HandleFunc("/pushrules/{scope}/{kind}/{ruleId}/enabled", a.auth(a.handleSetPushRuleEnabled)).Methods(put)
	r.HandleFunc("/pushrules/{scope}/{kind}/{ruleId}/actions", a.auth(a.handlePushRuleActions)).Methods(get)
	r.HandleFunc("/pushrules/{scope}/{kind}/{ruleId}/actions", a.auth(a.handleSetPushRuleActions)).Methods(put)

	r.HandleFunc("/pushers", a.auth(a.handlePushers)).Methods(get)
	r.HandleFunc("/pushers/set", a.auth(a.handleSetPusher)).Methods(post)
}

// handlePushRules answers GET /pushrules/: {"global": ruleset}.
func (a *API) handlePushRules(w http.ResponseWriter, r *http.Request) {
	rs, err := a.Push.Ruleset(r.Context(), session(r).UserID, "")
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, push.Content{Global: rs})
}

// handlePushRuleScope answers GET /pushrules/global/: the ruleset itself.
func (a *API) handlePushRuleScope(w http.ResponseWriter, r *http.Request) {
	rs, err := a.Push.Ruleset(r.Context(), session(r).UserID, mux.Vars(r)["scope"])
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rs)
}

// pushRule reads the rule a request names and answers with pick(rule).
func (a *API) pushRule(w http.ResponseWriter, r *http.Request, pick func(push.Rule) any) {
	v := mux.Vars(r)
	rule, err := a.Push.Rule(r.Context(), session(r).UserID, v["scope"], v["kind"], v["ruleId"])
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, pick(rule))
}

// handlePushRule answers GET /pushrules/{scope}/{kind}/{ruleId}.
func (a *API) handlePushRule(w http.ResponseWriter, r *http.Request) {
	a.pushRule(w, r, func(rule push.Rule) any { return rule })
}

// handlePushRuleEnabled answers GET /pushrules/{scope}/{kind}/{ruleId}/enabled.
func (a *API) handlePushRuleEnabled(w http.ResponseWriter, r *http.Request) {
	a.pushRule(w, r, func(rule push.Rule) any { return map[string]bool{"enabled": rule.Enabled} })
}

// handlePushRuleActions answers GET /pushrules/{scope}/{kind}/{ruleId}/actions.
func (a *API) handlePushRuleActions(w http.ResponseWriter, r *http.Request) {
	a.pushRule(w, r, func(rule push.Rule) any { return map[string]any{"actions": rule.Actions} })
}

// handlePutPushRule answers PUT /pushrules/{scope}/{kind}/{ruleId}?before=&after=.
func (a *API) handlePutPushRule(w http.ResponseWriter, r *http.Request) {
	var body push.RuleBody
	if err := readJSON(r, &body); err != nil {
		a.writeError(w, r, err)
		return
	}
	v, q := mux.Vars(r), r.URL.Query()
	if err := a.Push.PutRule(r.Context(), session(r).UserID, v["scope"], v["kind"], v["ruleId"], body, q.Get("before"), q.Get("after")); err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// handleDeletePushRule answers DELETE /pushrules/{scope}/{kind}/{ruleId}.
func (a *API) handleDeletePushRule(w http.ResponseWriter, r *http.Request) {
	v := mux.Vars(r)
	if err := a.Push.DeleteRule(r.Context(), session(r).UserID, v["scope"], v["kind"], v["ruleId"]); err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// handleSetPushRuleEnabled answers PUT /pushrules/{scope}/{kind}/{ruleId}/enabled.
func (a *API) handleSetPushRuleEnabled(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Enabled *bool `json:"enabled"`
	}
	if err := readJSON(r, &body); err != nil {
		a.writeError(w, r, err)
		return
	}
	if body.Enabled == nil {
		a.writeError(w, r, errMissingParam("enabled"))
		return
	}
	v := mux.Vars(r)
	if err := a.Push.SetEnabled(r.Context(), session(r).UserID, v["scope"], v["kind"], v["ruleId"], *body.Enabled); err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// handleSetPushRuleActions answers PUT /pushrules/{scope}/{kind}/{ruleId}/actions.
func (a *API) handleSetPushRuleActions(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Actions []json.RawMessage `json:"actions"`
	}
	if err := readJSON(r, &body); err != nil {
		a.writeError(w, r, err)
		return
	}
	v := mux.Vars(r)
	if err := a.Push.SetActions(r.Context(), session(r).UserID, v["scope"], v["kind"], v["ruleId"], body.Actions); err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}

// handlePushers answers GET /pushers.
func (a *API) handlePushers(w http.ResponseWriter, r *http.Request) {
	ps, err := a.Push.Pushers(r.Context(), session(r).UserID)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"pushers": ps})
}

// handleSetPusher answers POST /pushers/set.
func (a *API) handleSetPusher(w http.ResponseWriter, r *http.Request) {
	var body push.SetPusherRequest
	if err := readJSON(r, &body); err != nil {
		a.writeError(w, r, err)
		return
	}
	s := session(r)
	if err := a.Push.SetPusher(r.Context(), s.UserID, s.DeviceID, body); err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct{}{})
}
