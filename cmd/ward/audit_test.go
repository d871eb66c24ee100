package main

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"ward/internal/db"
	"ward/internal/dbtest"
)

// TestAdminAuditCommands runs `ward admin audit verify|checkpoint|export`
// through run: a clean trail verifies, the checkpoint is kept and checked,
// exports filter and write JSON Lines and CSV, every read is itself on the
// trail, and a tampered trail or a cut tail makes verify fail and name the
// entry.
func TestAdminAuditCommands(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ward := adminOn(t, b)
		ctx := context.Background()
		// An empty trail's checkpoint is one verify takes.
		out, err := ward("audit", "checkpoint")
		if err != nil || strings.TrimSpace(out) != "0:" {
			t.Fatalf("checkpoint of an empty trail: %v %q", err, out)
		}
		if out, err := ward("audit", "verify", "--checkpoint", strings.TrimSpace(out)); err != nil || !strings.Contains(out, "whole") {
			t.Fatalf("verify --checkpoint 0: %v %q", err, out)
		}
		// Drop the verify's own entry, so that the trail starts afresh.
		func() {
			d, err := db.Open(ctx, b.DSN)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if err := d.Tx(ctx, func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, `DELETE FROM audit_log`); err != nil {
					return err
				}
				_, err := tx.ExecContext(ctx, `UPDATE audit_head SET seq = 0, hash = ''`)
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}()
		for _, u := range []string{"ana", "ben"} {
			if out, err := ward("user", "create", "--user", u); err != nil {
				t.Fatalf("user create: %v %s", err, out)
			}
		}

		out, err = ward("audit", "checkpoint")
		cp := strings.TrimSpace(out)
		if err != nil || !regexp.MustCompile(`^2:[0-9a-f]{64}$`).MatchString(cp) {
			t.Fatalf("checkpoint: %v %q", err, out)
		}
		if out, err := ward("audit", "verify"); err != nil || !strings.Contains(out, "audit trail whole up to entry 2 (2 entries checked") {
			t.Fatalf("verify: %v %q", err, out)
		}
		// The verify is on the trail too (entry 3); the kept checkpoint holds.
		if out, err := ward("audit", "verify", "--checkpoint", cp); err != nil || !strings.Contains(out, "whole up to entry 3") {
			t.Fatalf("verify --checkpoint: %v %q", err, out)
		}
		if _, err := ward("audit", "verify", "--checkpoint", "nonsense"); err == nil {
			t.Fatal("a malformed checkpoint was accepted")
		}

		// Export: JSON Lines by default, every field; the export is recorded
		// before the entries are handed out, so it is its own last line.
		out, err = ward("audit", "export")
		if err != nil {
			t.Fatal(err)
		}
		var lines []map[string]any
		sc := bufio.NewScanner(strings.NewReader(out))
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("not JSON Lines: %q", sc.Text())
			}
			lines = append(lines, m)
		}
		if len(lines) != 5 || lines[0]["action"] != "register" || lines[0]["target_user"] != "@ana:clinic.test" ||
			lines[4]["action"] != "audit.read" || lines[4]["actor_user"] != "ward admin (command line, operator)" || lines[0]["hash"] == "" {
			t.Fatalf("export: %q", out)
		}
		// Filters and CSV.
		out, err = ward("audit", "export", "--format", "csv", "--action", "register", "--user", "@ben:clinic.test")
		if err != nil {
			t.Fatal(err)
		}
		rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil || len(rows) != 2 || !strings.Contains(strings.Join(rows[1], ","), "@ben:clinic.test") {
			t.Fatalf("csv export: %v %q", err, out)
		}
		out, err = ward("audit", "export", "--action", "audit.*", "--limit", "2")
		if err != nil || strings.Count(out, "\n") != 2 || strings.Contains(out, `"register"`) {
			t.Fatalf("export --action audit.* --limit 2: %v %q", err, out)
		}
		file := filepath.Join(t.TempDir(), "trail.jsonl")
		if out, err := ward("audit", "export", "--out", file, "--outcome", "allowed"); err != nil || out != "" {
			t.Fatalf("export --out: %v %q", err, out)
		}
		if body, err := os.ReadFile(file); err != nil || strings.Count(string(body), "\n") < 7 {
			t.Fatalf("exported file: %v %q", err, body)
		}
		if _, err := ward("audit", "export", "--out", file); err == nil {
			t.Fatal("export overwrote an existing file")
		}
		if _, err := ward("audit", "export", "--format", "xml"); err == nil {
			t.Fatal("unknown format accepted")
		}
		// Bad flags are refused before anything is read, with the API's
		// words, as a usage error (exit 2) that says what is wrong.
		for _, tt := range []struct {
			args []string
			want string
		}{
			{[]string{"export", "--outcome", "nope"}, "--outcome must be allowed, denied or failed"},
			{[]string{"export", "--limit", "-5"}, "--limit must be a positive number"},
			{[]string{"export", "--limit", "0"}, "--limit must be a positive number"},
			{[]string{"export", "--after", "x"}, "--after must be a sequence number"},
			{[]string{"export", "--since", "yesterday"}, `--since must be an RFC 3339 time`},
			{[]string{"export", "--format", "xml"}, "unknown export format"},
			{[]string{"truncate"}, "--before is required"},
			{[]string{"truncate", "--before", "garbage"}, `--before must be an RFC 3339 time, milliseconds or a duration ago such as 720h, not "garbage"`},
		} {
			out, err := ward(append([]string{"audit"}, tt.args...)...)
			if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tt.want) || out != "" {
				t.Errorf("audit %v: %v %q; want a usage error saying %q", tt.args, err, out, tt.want)
			}
		}
		// A cut-off in the future would remove everything: refused.
		for _, future := range []string{"2099-01-01T00:00:00Z", "-1h"} {
			if _, err := ward("audit", "truncate", "--before", future); err == nil || !strings.Contains(err.Error(), "in the future") {
				t.Errorf("truncate --before %s: %v", future, err)
			}
		}
		if out, err := ward("audit", "verify"); err != nil || !strings.Contains(out, "whole") {
			t.Fatalf("after the refused truncations: %v %q", err, out)
		}
		if _, err := ward("audit", "shred"); !errors.Is(err, errUsage) {
			t.Fatalf("unknown audit command: %v", err)
		}

		// Tampering is caught and named; exit status 1 (errBrokenTrail).
		out, err = ward("audit", "checkpoint")
		if err != nil {
			t.Fatal(err)
		}
		kept := strings.TrimSpace(out)
		change := func(q string, args ...any) {
			t.Helper()
			d, err := db.Open(ctx, b.DSN)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			if err := d.Tx(ctx, func(tx *sql.Tx) error { _, err := tx.ExecContext(ctx, q, args...); return err }); err != nil {
				t.Fatal(err)
			}
		}
		change(`UPDATE audit_log SET target_user = '@mallory:clinic.test' WHERE seq = 2`)
		if out, err := ward("audit", "verify"); !errors.Is(err, errBrokenTrail) || !strings.Contains(out, "BROKEN at entry 2") {
			t.Fatalf("altered entry: %v %q", err, out)
		}
		change(`UPDATE audit_log SET target_user = '@ben:clinic.test' WHERE seq = 2`)
		// Cut the tail and move the head back: only the kept checkpoint tells.
		last := regexp.MustCompile(`^(\d+):`).FindStringSubmatch(kept)[1]
		change(`DELETE FROM audit_log WHERE seq >= 5`)
		change(`UPDATE audit_head SET seq = 4, hash = (SELECT hash FROM audit_log WHERE seq = 4)`)
		if out, err := ward("audit", "verify"); err != nil {
			t.Fatalf("cut tail without checkpoint should look whole: %v %q", err, out)
		}
		if out, err := ward("audit", "verify", "--checkpoint", kept); !errors.Is(err, errBrokenTrail) ||
			!strings.Contains(out, "the kept checkpoint names entry "+last) {
			t.Fatalf("cut tail with checkpoint: %v %q", err, out)
		}
		// Rows no Ward code writes are a broken chain too, not an
		// internal error: the head row gone, a column of another type.
		change(`DELETE FROM audit_head`)
		if out, err := ward("audit", "verify"); !errors.Is(err, errBrokenTrail) ||
			!strings.Contains(out, "BROKEN at the head row: the head row (audit_head) was removed") {
			t.Fatalf("head row deleted: %v %q", err, out)
		}
		if _, err := ward("audit", "checkpoint"); err == nil || strings.Contains(err.Error(), "sql:") || !strings.Contains(err.Error(), "head row") {
			t.Fatalf("checkpoint without a head row: %v", err)
		}
		if b.Name == "postgres" {
			change(`ALTER TABLE audit_log ALTER COLUMN ts TYPE text USING ts::text`)
		}
		change(`UPDATE audit_log SET ts = 'soon' WHERE seq = 3`)
		if out, err := ward("audit", "verify"); !errors.Is(err, errBrokenTrail) || !strings.Contains(out, `BROKEN at entry 3: entry 3 was altered (its ts column holds "soon"`) {
			t.Fatalf("ts made text: %v %q", err, out)
		}
	})
}

// `ward help` lists the audit commands.
func TestHelpListsAudit(t *testing.T) {
	iv := &invocation{args: []string{"help"}}
	if err := iv.run(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ward admin audit verify|checkpoint|export|truncate", "ward admin audit export [--format jsonl|csv]",
		"ward admin audit checkpoint"} {
		if !strings.Contains(iv.stdout.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

// adminOn migrates a fresh database of backend b for clinic.test and
// returns a runner of `ward admin ARGS…` on it (as operator, with a
// passphrase on standard input), giving its output.
func adminOn(t *testing.T, b dbtest.Backend) func(args ...string) (string, error) {
	t.Helper()
	env := sqliteEnv(t)
	env["WARD_DATABASE"] = b.DSN
	env["WARD_SERVER_NAME"] = "clinic.test"
	migrated(t, env)
	env["USER"] = "operator"
	return func(args ...string) (string, error) {
		t.Helper()
		iv := &invocation{args: append([]string{"admin"}, args...), env: env, stdin: "a long passphrase\n"}
		err := iv.run(context.Background())
		return iv.stdout.String(), err
	}
}
