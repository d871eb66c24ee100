package server_test

import (
	"context"
	"testing"
	"time"

	"ward/audit"
	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

// With audit_retention set, ward serve removes older entries by itself,
// through a signed truncation that verify accepts; Shutdown stops it.
func TestAuditRetentionRunsWhileServing(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ctx := context.Background()
		ts := servertest.Start(t, b, nil)
		for _, u := range []string{"ana", "ben"} {
			if _, err := ts.Server.Accounts.CreateUser(ctx, u, "password of "+u, false); err != nil {
				t.Fatal(err)
			}
		}
		ts.Config.AuditRetention = 100 * time.Millisecond
		time.Sleep(150 * time.Millisecond)
		ts.Restart()
		deadline := time.Now().Add(10 * time.Second)
		var truncations []audit.Entry
		for len(truncations) == 0 {
			if time.Now().After(deadline) {
				t.Fatal("no truncation within 10s")
			}
			time.Sleep(20 * time.Millisecond)
			var err error
			truncations, _, err = ts.Server.Audit.Query(ctx, audit.Filter{Action: audit.ActionTruncate})
			if err != nil {
				t.Fatal(err)
			}
		}
		if e := truncations[0]; e.ActorUser != "ward serve (audit_retention)" || e.Detail["signature"] == "" || e.Detail["removed"] == "0" {
			t.Fatalf("truncation entry: %+v", e)
		}
		// Stop the timer, then check the chain at rest.
		ts.Config.AuditRetention = 0
		ts.Restart()
		rep, err := ts.Server.Audit.Verify(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !rep.OK || rep.Truncated < 2 {
			t.Fatalf("after retention: %s", rep)
		}
		all, _, err := ts.Server.Audit.Query(ctx, audit.Filter{Action: audit.ActionRegister})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 0 {
			t.Fatalf("old entries kept: %+v", all)
		}
	})
}
