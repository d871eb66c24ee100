package media

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"testing"

	"maunium.net/go/mautrix/id"

	"ward/internal/db"
	"ward/internal/dbtest"
)

// trail is an AuditTrail that writes its entries into the transaction it is
// given (into a table of its own), or fails when told to.
type trail struct {
	fail      bool
	uploads   int
	downloads int
}

var errTrailDown = errors.New("audit trail unavailable")

func (a *trail) MediaUploaded(ctx context.Context, tx *sql.Tx, user id.UserID, mediaID string, size int64) error {
	if a.fail {
		return errTrailDown
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO test_trail (media_id) VALUES ($1)`, mediaID); err != nil {
		return err
	}
	a.uploads++
	return nil
}

func (a *trail) MediaDownloaded(ctx context.Context, user id.UserID, mediaID string, thumbnail bool) error {
	if a.fail {
		return errTrailDown
	}
	a.downloads++
	return nil
}

func (a *trail) MediaDownloadRefused(ctx context.Context, user id.UserID, mediaID string, thumbnail bool) error {
	return nil
}

// The audit issue: where an action writes to the database, its entry is
// written in the same transaction — no upload without its entry, and no
// entry for an upload that did not commit. A download is served only once
// its entry is written.
func TestUploadAuditedInItsTransaction(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ctx := context.Background()
		d, err := db.Open(ctx, b.DSN)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		if _, err := d.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if err := d.Tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `CREATE TABLE test_trail (media_id TEXT NOT NULL)`)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		a := &trail{}
		s, err := New(d, Options{ServerName: "clinic.test", DataDir: t.TempDir(), MaxUploadBytes: 1 << 20, Audit: a})
		if err != nil {
			t.Fatal(err)
		}
		alice := Caller{UserID: "@alice:clinic.test"}
		count := func(q string, args ...any) int {
			t.Helper()
			var n int
			if err := d.Read.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		upload := func(body string) (id.ContentURI, error) {
			return s.Upload(ctx, alice, Upload{ContentType: "text/plain", Length: int64(len(body)), Body: strings.NewReader(body)})
		}

		// The trail refuses: the upload fails and leaves no item.
		a.fail = true
		if _, err := upload("refused"); !errors.Is(err, errTrailDown) {
			t.Fatalf("upload with the trail down: %v, want %v", err, errTrailDown)
		}
		if n := count(`SELECT COUNT(*) FROM media`); n != 0 {
			t.Fatalf("%d media rows after an upload whose audit entry failed, want 0", n)
		}

		// The same for an asynchronous upload: the reserved id stays empty.
		a.fail = false
		mxc, _, err := s.Create(ctx, alice)
		if err != nil {
			t.Fatal(err)
		}
		a.fail = true
		if err := s.UploadTo(ctx, alice, mxc.Homeserver, mxc.FileID, Upload{ContentType: "text/plain", Length: 2,
			Body: strings.NewReader("hi")}); !errors.Is(err, errTrailDown) {
			t.Fatalf("async upload with the trail down: %v, want %v", err, errTrailDown)
		}
		if n := count(`SELECT COUNT(*) FROM media WHERE media_id = $1 AND sha256 IS NOT NULL`, mxc.FileID); n != 0 {
			t.Fatalf("the reserved id holds content although its audit entry failed")
		}

		// The trail works: the item and its entry commit together.
		a.fail = false
		got, err := upload("kept")
		if err != nil {
			t.Fatal(err)
		}
		if n := count(`SELECT COUNT(*) FROM test_trail WHERE media_id = $1`, got.FileID); n != 1 {
			t.Fatalf("%d entries for the committed upload, want 1", n)
		}
		if err := s.UploadTo(ctx, alice, mxc.Homeserver, mxc.FileID, Upload{ContentType: "text/plain", Length: 2,
			Body: strings.NewReader("hi")}); err != nil {
			t.Fatal(err)
		}
		if n := count(`SELECT COUNT(*) FROM test_trail`); n != 2 || a.uploads != 2 {
			t.Fatalf("%d entries (%d recorded), want 2", n, a.uploads)
		}

		// A download whose entry cannot be written is not served.
		a.fail = true
		if c, err := s.Download(ctx, alice, got.Homeserver, got.FileID, "", 0); !errors.Is(err, errTrailDown) {
			if c != nil {
				c.File.Close()
			}
			t.Fatalf("download with the trail down: %v, want %v", err, errTrailDown)
		}
		a.fail = false
		c, err := s.Download(ctx, alice, got.Homeserver, got.FileID, "", 0)
		if err != nil {
			t.Fatal(err)
		}
		c.File.Close()
		if a.downloads != 1 {
			t.Fatalf("%d downloads recorded, want 1", a.downloads)
		}
	})
}
