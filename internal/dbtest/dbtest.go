// Package dbtest gives tests a fresh database on every backend: a SQLite
// file in a temporary folder always, and a new PostgreSQL database when
// WARD_TEST_POSTGRES names a server (a DSN whose user may CREATE DATABASE).
// Without it the PostgreSQL run is skipped with a visible message.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// Backend is one database a test runs against.
type Backend struct {
	Name string // "sqlite" or "postgres"
	DSN  string
}

// ForEach runs fn once per backend as a subtest, each with a fresh, empty
// database.
func ForEach(t *testing.T, fn func(t *testing.T, b Backend)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		fn(t, Backend{Name: "sqlite", DSN: SQLite(t)})
	})
	t.Run("postgres", func(t *testing.T) {
		fn(t, Backend{Name: "postgres", DSN: Postgres(t)})
	})
}

// SQLite returns the path of a fresh SQLite database file.
func SQLite(t testing.TB) string {
	return filepath.Join(t.TempDir(), "ward.db")
}

// Postgres creates a fresh PostgreSQL database, drops it when the test ends
// and returns its DSN. It skips the test when WARD_TEST_POSTGRES is unset.
func Postgres(t testing.TB) string {
	t.Helper()
	base := os.Getenv("WARD_TEST_POSTGRES")
	if base == "" {
		t.Skip("WARD_TEST_POSTGRES is not set: skipping the PostgreSQL run")
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open %s: %v", base, err)
	}
	defer admin.Close()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "ward_t_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		a, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer a.Close()
		_, _ = a.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u, err := url.Parse(base)
	if err != nil || u.Scheme == "" {
		t.Fatalf("WARD_TEST_POSTGRES must be a postgres:// URL, got %q", base)
	}
	u.Path = "/" + name
	return u.String()
}
