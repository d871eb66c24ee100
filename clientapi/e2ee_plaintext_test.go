package clientapi_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"

	"ward/internal/db"
	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

// dbTables lists the tables of the database.
func dbTables(t *testing.T, d *db.DB) []string {
	t.Helper()
	q := `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`
	if d.Dialect == db.Postgres {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`
	}
	rows, err := d.Read.QueryContext(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		out = append(out, name)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// findInDatabase returns "table.column" for every stored value, of any
// column of any table, that contains marker.
func findInDatabase(t *testing.T, d *db.DB, marker string) (hits []string, rowsScanned int) {
	t.Helper()
	ctx := context.Background()
	for _, table := range dbTables(t, d) {
		rows, err := d.Read.QueryContext(ctx, `SELECT * FROM "`+table+`"`)
		if err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			rowsScanned++
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatalf("scan %s: %v", table, err)
			}
			for i, v := range vals {
				var s string
				switch v := v.(type) {
				case nil:
					continue
				case string:
					s = v
				case []byte:
					s = string(v)
				default:
					s = fmt.Sprint(v)
				}
				if strings.Contains(s, marker) {
					hits = append(hits, table+"."+cols[i])
				}
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
		rows.Close()
	}
	return hits, rowsScanned
}

// TestE2EENoPlaintextInDatabase: alice and bob exchange encrypted messages
// whose text holds a unique marker; no column of any table holds the
// marker afterwards. The same scan finds a marker sent in a room without
// encryption, so it is able to find plaintext where there is some.
func TestE2EENoPlaintextInDatabase(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		ctx := context.Background()
		var nonce [8]byte
		_, _ = rand.Read(nonce[:])
		secret := "clinical-note-" + hex.EncodeToString(nonce[:])
		control := "public-note-" + hex.EncodeToString(nonce[:])

		alice := startCryptoDevice(t, e2eeUser(t, ts, "alice"), nil, nil)
		bob := startCryptoDevice(t, e2eeUser(t, ts, "bob"), nil, nil)
		room := encryptedDM(t, alice, bob)
		for i := range 3 {
			text := fmt.Sprintf("%s from alice #%d", secret, i)
			sendEncrypted(t, alice.cli, alice.mach, room, text)
			waitFor(t, bob.got, text)
			text = fmt.Sprintf("%s from bob #%d", secret, i)
			sendEncrypted(t, bob.cli, bob.mach, room, text)
			waitFor(t, alice.got, text)
		}

		plain, err := alice.cli.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := alice.cli.SendMessageEvent(ctx, plain.RoomID, event.EventMessage,
			&event.MessageEventContent{MsgType: event.MsgText, Body: control}); err != nil {
			t.Fatal(err)
		}

		// A second connection of the test's own, as an operator's dump would.
		d, err := db.Open(ctx, ts.Backend.DSN)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if hits, n := findInDatabase(t, d, secret); len(hits) != 0 {
			t.Fatalf("the plaintext of encrypted messages is stored in %v (%d rows scanned)", hits, n)
		} else if n == 0 {
			t.Fatal("scanned no rows")
		}
		if hits, _ := findInDatabase(t, d, control); len(hits) == 0 {
			t.Fatal("the scan did not find the text of an unencrypted message: it cannot prove anything")
		}
	})
}
