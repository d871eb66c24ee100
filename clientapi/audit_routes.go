package clientapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/gorilla/mux"
	"maunium.net/go/mautrix"

	"ward/audit"
)

// auditRoutes registers the audit trail's admin endpoints. Every read of the
// trail, and every refused attempt at one, is itself recorded.
func (a *API) auditRoutes(r *mux.Router) {
	r.HandleFunc(adminPrefix+"/audit", a.serverAdmin(a.handleAuditQuery)).Methods(http.MethodGet)
	r.HandleFunc(adminPrefix+"/audit/verify", a.serverAdmin(a.handleAuditVerify)).Methods(http.MethodGet)
	r.HandleFunc(adminPrefix+"/audit/checkpoint", a.serverAdmin(a.handleAuditCheckpoint)).Methods(http.MethodGet)
}

// serverAdmin wraps a handler for server admins only, whether or not the
// clinic policy is on; a refusal is recorded (admin.refused). It is the one
// gate of every admin-only surface: the audit trail's endpoints, the clinic
// policy's admin API (admin), the Synapse admin API (synapseAdmin) and the
// runtime profiles (Profiles).
func (a *API) serverAdmin(h http.HandlerFunc) http.HandlerFunc {
	return a.auth(func(w http.ResponseWriter, r *http.Request) {
		if !session(r).IsAdmin {
			a.refuseNonAdmin(w, r, "not a server admin", "This endpoint is for server admins only")
			return
		}
		h(w, r)
	})
}

// selfOrServerAdmin wraps a handler about the user in the {userId} path
// variable that a server admin may call for anyone and a user for
// themself (spec: GET /admin/whois/{userId}, "may be restricted to only be
// called by the user being looked up, or by a server admin"). Anyone else
// is refused, and recorded, before the user is looked up, so that the
// answer does not tell who exists.
func (a *API) selfOrServerAdmin(h http.HandlerFunc) http.HandlerFunc {
	return a.auth(func(w http.ResponseWriter, r *http.Request) {
		s := session(r)
		if !s.IsAdmin && mux.Vars(r)["userId"] != string(s.UserID) {
			a.refuseNonAdmin(w, r, "not a server admin nor the user", "Only server admins may look up other users")
			return
		}
		h(w, r)
	})
}

// refuseNonAdmin records a refused attempt at an admin-only surface
// (admin.refused) and answers 403 M_FORBIDDEN.
func (a *API) refuseNonAdmin(w http.ResponseWriter, r *http.Request, reason, message string) {
	route := ""
	if cr := mux.CurrentRoute(r); cr != nil {
		route, _ = cr.GetPathTemplate()
	}
	_ = a.Audit.RecordAlone(r.Context(), audit.Entry{Action: audit.ActionAdminPrefix + "refused", Outcome: audit.Denied,
		Reason: reason, Detail: map[string]string{"endpoint": r.Method + " " + route}})
	a.writeError(w, r, mautrix.MForbidden.WithMessage("%s", message))
}

// auditFilter reads the query parameters user, room, action, outcome,
// since, until (RFC 3339, milliseconds or a duration ago), from (a
// sequence number) and limit, checked as the command line checks them.
func auditFilter(r *http.Request) (audit.Filter, error) {
	q := r.URL.Query()
	f, err := audit.ParseFilter(audit.FilterParams{User: q.Get("user"), Room: q.Get("room"), Action: q.Get("action"),
		Outcome: q.Get("outcome"), Since: q.Get("since"), Until: q.Get("until"), From: q.Get("from"), Limit: q.Get("limit")}, time.Now())
	if err != nil {
		return f, mautrix.MInvalidParam.WithMessage("%s", err.Error())
	}
	return f, nil
}

// handleAuditQuery answers GET /_ward/admin/v1/audit: one page of entries,
// as JSON ({"entries": […], "next_batch": "…"}), JSON Lines (format=jsonl)
// or CSV (format=csv); for the last two the next page's from is in the
// X-Next-Batch header.
func (a *API) handleAuditQuery(w http.ResponseWriter, r *http.Request) {
	f, err := auditFilter(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	format := r.URL.Query().Get("format")
	var fm audit.Format
	if format != "" && format != "json" {
		if fm, err = audit.ParseFormat(format); err != nil {
			a.writeError(w, r, mautrix.MInvalidParam.WithMessage("%s", err.Error()))
			return
		}
	}
	detail := f.Describe()
	detail["format"] = format
	if err := a.Audit.RecordAlone(r.Context(), audit.Entry{Action: audit.ActionAuditRead, Detail: detail}); err != nil {
		a.writeError(w, r, err)
		return
	}
	entries, next, err := a.Audit.Query(r.Context(), f)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	nextBatch := ""
	if next > 0 {
		nextBatch = strconv.FormatInt(next, 10)
	}
	if fm == "" {
		if entries == nil {
			entries = []audit.Entry{}
		}
		resp := map[string]any{"entries": entries}
		if nextBatch != "" {
			resp["next_batch"] = nextBatch
		}
		writeJSON(w, http.StatusOK, resp)
		return
	}
	if fm == audit.CSV {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "application/jsonl")
	}
	if nextBatch != "" {
		w.Header().Set("X-Next-Batch", nextBatch)
	}
	x, err := audit.NewExporter(w, fm)
	if err != nil {
		return
	}
	for _, e := range entries {
		if x.Write(e) != nil {
			return
		}
	}
	_ = x.Flush()
}

// handleAuditVerify answers GET /_ward/admin/v1/audit/verify[?checkpoint=SEQ:HASH].
func (a *API) handleAuditVerify(w http.ResponseWriter, r *http.Request) {
	var kept *audit.Checkpoint
	if v := r.URL.Query().Get("checkpoint"); v != "" {
		c, err := audit.ParseCheckpoint(v)
		if err != nil {
			a.writeError(w, r, mautrix.MInvalidParam.WithMessage("%s", err.Error()))
			return
		}
		kept = &c
	}
	rep, err := a.Audit.Verify(r.Context(), kept)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	e := audit.Entry{Action: audit.ActionAuditVerify, Detail: map[string]string{"result": rep.String()}}
	if !rep.OK {
		e.Outcome = audit.Failed
	}
	// A trail broken at its head takes no entry; the finding is answered
	// all the same.
	if err := a.Audit.RecordAlone(r.Context(), e); err != nil && rep.OK {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"ok": rep.OK, "entries": rep.Entries, "first": rep.First, "last": rep.Last, "truncated_through": rep.Truncated,
		"head": rep.Head.String(), "bad_seq": rep.BadSeq, "problem": rep.Problem, "summary": rep.String(),
	})
}

// handleAuditCheckpoint answers GET /_ward/admin/v1/audit/checkpoint.
func (a *API) handleAuditCheckpoint(w http.ResponseWriter, r *http.Request) {
	head, err := a.Audit.Head(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"seq": head.Seq, "hash": head.Hash, "checkpoint": head.String()})
}
