package clientapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

const backupAlg = "m.megolm_backup.v1.curve25519-aes-sha2"

// backupKey is a KeyBackupData object with a recognisable session_data.
func backupKey(index, forwarded int, verified bool, tag string) map[string]any {
	return map[string]any{
		"first_message_index": index,
		"forwarded_count":     forwarded,
		"is_verified":         verified,
		"session_data":        map[string]any{"ephemeral": "eph-" + tag, "ciphertext": "ct-" + tag, "mac": "mac-" + tag},
	}
}

func wantStatus(t *testing.T, what string, st int, body map[string]any, want int, errcode string) {
	t.Helper()
	if st != want {
		t.Fatalf("%s: %d %v, want %d", what, st, body, want)
	}
	if errcode != "" && body["errcode"] != errcode {
		t.Fatalf("%s: errcode %v, want %s", what, body["errcode"], errcode)
	}
}

// tagOf returns the tag in a stored key's session_data.
func tagOf(t *testing.T, key map[string]any) string {
	t.Helper()
	sd, ok := key["session_data"].(map[string]any)
	if !ok {
		t.Fatalf("key without session_data: %v", key)
	}
	return sd["ciphertext"].(string)[len("ct-"):]
}

func TestE2EEBackupVersionsAndKeys(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice := e2eeUser(t, ts, "alice")
		bob := e2eeUser(t, ts, "bob")
		call := func(method, path string, body any) (int, map[string]any) {
			t.Helper()
			return e2eeCall(t, ts, alice, method, path, body)
		}
		roomA, roomB := "!a:ward.test", "!b:ward.test"
		qa, qb := url.PathEscape(roomA), url.PathEscape(roomB)

		st, body := call(http.MethodGet, "/room_keys/version", nil)
		wantStatus(t, "current version before any", st, body, http.StatusNotFound, "M_NOT_FOUND")
		st, body = call(http.MethodPut, "/room_keys/keys?version=1", map[string]any{"rooms": map[string]any{}})
		wantStatus(t, "keys without a backup", st, body, http.StatusNotFound, "M_NOT_FOUND")

		// Create and read a version.
		authData := map[string]any{"public_key": "pubkey1", "signatures": map[string]any{}}
		st, body = call(http.MethodPost, "/room_keys/version", map[string]any{"algorithm": backupAlg, "auth_data": authData})
		wantStatus(t, "create", st, body, http.StatusOK, "")
		if body["version"] != "1" {
			t.Fatalf("first version = %v", body["version"])
		}
		st, body = call(http.MethodPost, "/room_keys/version", map[string]any{"algorithm": backupAlg})
		wantStatus(t, "create without auth_data", st, body, http.StatusBadRequest, "")
		st, cur := call(http.MethodGet, "/room_keys/version", nil)
		wantStatus(t, "current version", st, cur, http.StatusOK, "")
		if cur["version"] != "1" || cur["algorithm"] != backupAlg || cur["count"] != float64(0) || cur["etag"] == nil ||
			cur["auth_data"].(map[string]any)["public_key"] != "pubkey1" {
			t.Fatalf("current version = %v", cur)
		}
		etag0 := cur["etag"].(string)

		// Upload at all three levels.
		st, body = call(http.MethodPut, "/room_keys/keys?version=1", map[string]any{"rooms": map[string]any{
			roomA: map[string]any{"sessions": map[string]any{"s1": backupKey(5, 1, false, "a1"), "s2": backupKey(0, 0, false, "a2")}},
		}})
		wantStatus(t, "put all", st, body, http.StatusOK, "")
		if body["count"] != float64(2) || body["etag"] == etag0 {
			t.Fatalf("put all = %v (etag before %s)", body, etag0)
		}
		st, body = call(http.MethodPut, "/room_keys/keys/"+qb+"?version=1", map[string]any{"sessions": map[string]any{"s3": backupKey(0, 0, true, "b3")}})
		wantStatus(t, "put room", st, body, http.StatusOK, "")
		st, body = call(http.MethodPut, "/room_keys/keys/"+qb+"/s4?version=1", backupKey(2, 0, false, "b4"))
		wantStatus(t, "put session", st, body, http.StatusOK, "")
		if body["count"] != float64(4) {
			t.Fatalf("count after 4 keys = %v", body)
		}
		etag := body["etag"].(string)

		// The replacement rule, on s1 (stored: index 5, forwarded 1, unverified).
		steps := []struct {
			key  map[string]any
			want string // tag stored afterwards
		}{
			{backupKey(6, 0, false, "worse-index"), "a1"},
			{backupKey(5, 2, false, "worse-forwarded"), "a1"},
			{backupKey(5, 1, false, "equal"), "a1"},
			{backupKey(5, 0, false, "better-forwarded"), "better-forwarded"},
			{backupKey(3, 9, false, "better-index"), "better-index"},
			{backupKey(9, 9, true, "verified"), "verified"},
			{backupKey(0, 0, false, "unverified"), "verified"},
			{backupKey(8, 0, true, "verified-lower-index"), "verified-lower-index"},
		}
		for _, s := range steps {
			st, body := call(http.MethodPut, "/room_keys/keys/"+qa+"/s1?version=1", s.key)
			wantStatus(t, "put s1 "+tagOf(t, s.key), st, body, http.StatusOK, "")
			changed := s.want == tagOf(t, s.key)
			if (body["etag"] != etag) != changed {
				t.Fatalf("upload %s: etag %v before %s, changed should be %v", tagOf(t, s.key), body["etag"], etag, changed)
			}
			etag = body["etag"].(string)
			st, got := call(http.MethodGet, "/room_keys/keys/"+qa+"/s1?version=1", nil)
			wantStatus(t, "get s1", st, got, http.StatusOK, "")
			if tagOf(t, got) != s.want {
				t.Fatalf("after uploading %s the stored key is %s, want %s", tagOf(t, s.key), tagOf(t, got), s.want)
			}
		}

		// Reads at all three levels.
		st, all := call(http.MethodGet, "/room_keys/keys?version=1", nil)
		wantStatus(t, "get all", st, all, http.StatusOK, "")
		rooms := all["rooms"].(map[string]any)
		if len(rooms) != 2 || len(rooms[roomA].(map[string]any)["sessions"].(map[string]any)) != 2 ||
			len(rooms[roomB].(map[string]any)["sessions"].(map[string]any)) != 2 {
			t.Fatalf("get all = %v", all)
		}
		s3 := rooms[roomB].(map[string]any)["sessions"].(map[string]any)["s3"].(map[string]any)
		if s3["first_message_index"] != float64(0) || s3["forwarded_count"] != float64(0) || s3["is_verified"] != true || tagOf(t, s3) != "b3" ||
			s3["session_data"].(map[string]any)["mac"] != "mac-b3" {
			t.Fatalf("s3 = %v", s3)
		}
		st, room := call(http.MethodGet, "/room_keys/keys/"+qb+"?version=1", nil)
		wantStatus(t, "get room", st, room, http.StatusOK, "")
		if len(room["sessions"].(map[string]any)) != 2 {
			t.Fatalf("get room = %v", room)
		}
		st, room = call(http.MethodGet, "/room_keys/keys/"+url.PathEscape("!empty:ward.test")+"?version=1", nil)
		if st != http.StatusOK || room["sessions"] == nil || len(room["sessions"].(map[string]any)) != 0 {
			t.Fatalf("get empty room = %d %v, want {\"sessions\": {}}", st, room)
		}
		st, body = call(http.MethodGet, "/room_keys/keys/"+qa+"/nosuch?version=1", nil)
		wantStatus(t, "get unknown session", st, body, http.StatusNotFound, "M_NOT_FOUND")
		st, body = call(http.MethodGet, "/room_keys/keys?version=7", nil)
		wantStatus(t, "get unknown version", st, body, http.StatusNotFound, "M_NOT_FOUND")
		st, body = call(http.MethodGet, "/room_keys/keys", nil)
		wantStatus(t, "get without version", st, body, http.StatusBadRequest, "M_MISSING_PARAM")

		// Bad uploads.
		for name, k := range map[string]any{
			"missing index":   map[string]any{"forwarded_count": 0, "is_verified": false, "session_data": map[string]any{}},
			"string data":     map[string]any{"first_message_index": 0, "forwarded_count": 0, "is_verified": false, "session_data": "x"},
			"negative index":  backupKey(-1, 0, false, "neg"),
			"verified string": map[string]any{"first_message_index": 0, "forwarded_count": 0, "is_verified": "yes", "session_data": map[string]any{}},
		} {
			st, body := call(http.MethodPut, "/room_keys/keys/"+qa+"/bad?version=1", k)
			wantStatus(t, name, st, body, http.StatusBadRequest, "")
		}

		// Someone else sees nothing of alice's backup.
		st, body = e2eeCall(t, ts, bob, http.MethodGet, "/room_keys/version", nil)
		wantStatus(t, "bob's current version", st, body, http.StatusNotFound, "M_NOT_FOUND")
		st, body = e2eeCall(t, ts, bob, http.MethodGet, "/room_keys/keys?version=1", nil)
		wantStatus(t, "bob reads version 1", st, body, http.StatusNotFound, "M_NOT_FOUND")
		st, body = e2eeCall(t, ts, nil, http.MethodGet, "/room_keys/version", nil)
		wantStatus(t, "no token", st, body, http.StatusUnauthorized, "M_MISSING_TOKEN")

		// A new version becomes current; the old one is read-only.
		st, body = call(http.MethodPost, "/room_keys/version", map[string]any{"algorithm": backupAlg, "auth_data": map[string]any{"public_key": "pubkey2"}})
		wantStatus(t, "create second", st, body, http.StatusOK, "")
		if body["version"] != "2" {
			t.Fatalf("second version = %v", body)
		}
		st, body = call(http.MethodPut, "/room_keys/keys/"+qa+"/s9?version=1", backupKey(0, 0, false, "old"))
		wantStatus(t, "write to old version", st, body, http.StatusForbidden, "M_WRONG_ROOM_KEYS_VERSION")
		if body["current_version"] != "2" {
			t.Fatalf("current_version = %v", body)
		}
		st, body = call(http.MethodPut, "/room_keys/keys?version=99", map[string]any{"rooms": map[string]any{}})
		wantStatus(t, "write to unknown version", st, body, http.StatusForbidden, "M_WRONG_ROOM_KEYS_VERSION")
		st, v1 := call(http.MethodGet, "/room_keys/version/1", nil)
		if st != http.StatusOK || v1["count"] != float64(4) || v1["etag"] != etag {
			t.Fatalf("version 1 = %d %v (etag %s)", st, v1, etag)
		}
		st, v2 := call(http.MethodGet, "/room_keys/version", nil)
		if st != http.StatusOK || v2["version"] != "2" || v2["count"] != float64(0) {
			t.Fatalf("current = %d %v", st, v2)
		}
		st, body = call(http.MethodGet, "/room_keys/version/x", nil)
		wantStatus(t, "get version x", st, body, http.StatusNotFound, "M_NOT_FOUND")

		// Updating auth_data.
		st, body = call(http.MethodPut, "/room_keys/version/2", map[string]any{"algorithm": backupAlg, "auth_data": map[string]any{"public_key": "pubkey2", "signatures": map[string]any{"x": map[string]any{}}}, "version": "2"})
		wantStatus(t, "update", st, body, http.StatusOK, "")
		if _, v2 := call(http.MethodGet, "/room_keys/version/2", nil); v2["auth_data"].(map[string]any)["signatures"] == nil {
			t.Fatalf("auth_data not updated: %v", v2)
		}
		st, body = call(http.MethodPut, "/room_keys/version/2", map[string]any{"algorithm": "other", "auth_data": map[string]any{}})
		wantStatus(t, "update algorithm", st, body, http.StatusBadRequest, "M_INVALID_PARAM")
		st, body = call(http.MethodPut, "/room_keys/version/2", map[string]any{"algorithm": backupAlg, "auth_data": map[string]any{}, "version": "1"})
		wantStatus(t, "update other version", st, body, http.StatusBadRequest, "M_INVALID_PARAM")
		st, body = call(http.MethodPut, "/room_keys/version/5", map[string]any{"algorithm": backupAlg, "auth_data": map[string]any{}})
		wantStatus(t, "update unknown", st, body, http.StatusNotFound, "M_NOT_FOUND")

		// Deleting keys at the three levels (from the old version).
		st, body = call(http.MethodDelete, "/room_keys/keys/"+qa+"/s2?version=1", nil)
		if st != http.StatusOK || body["count"] != float64(3) || body["etag"] == etag {
			t.Fatalf("delete session = %d %v", st, body)
		}
		st, body = call(http.MethodDelete, "/room_keys/keys/"+qb+"?version=1", nil)
		if st != http.StatusOK || body["count"] != float64(1) {
			t.Fatalf("delete room = %d %v", st, body)
		}
		st, body = call(http.MethodDelete, "/room_keys/keys?version=1", nil)
		if st != http.StatusOK || body["count"] != float64(0) {
			t.Fatalf("delete all = %d %v", st, body)
		}
		st, body = call(http.MethodDelete, "/room_keys/keys?version=8", nil)
		wantStatus(t, "delete keys of unknown version", st, body, http.StatusNotFound, "M_NOT_FOUND")

		// Deleting versions: twice is fine, an unknown one is not, the
		// number is never reused.
		if st, body := call(http.MethodPut, "/room_keys/keys/"+qa+"/s1?version=2", backupKey(0, 0, false, "v2")); st != http.StatusOK {
			t.Fatalf("put into version 2: %d %v", st, body)
		}
		for range 2 {
			st, body = call(http.MethodDelete, "/room_keys/version/2", nil)
			wantStatus(t, "delete version 2", st, body, http.StatusOK, "")
		}
		st, body = call(http.MethodDelete, "/room_keys/version/42", nil)
		wantStatus(t, "delete unknown version", st, body, http.StatusNotFound, "M_NOT_FOUND")
		st, body = call(http.MethodGet, "/room_keys/version/2", nil)
		wantStatus(t, "get deleted version", st, body, http.StatusNotFound, "M_NOT_FOUND")
		st, body = call(http.MethodGet, "/room_keys/keys?version=2", nil)
		wantStatus(t, "keys of deleted version", st, body, http.StatusNotFound, "M_NOT_FOUND")
		if _, cur := call(http.MethodGet, "/room_keys/version", nil); cur["version"] != "1" {
			t.Fatalf("after deleting 2 the current version is %v, want 1", cur)
		}
		_, body = call(http.MethodPost, "/room_keys/version", map[string]any{"algorithm": backupAlg, "auth_data": map[string]any{}})
		if body["version"] != "3" {
			t.Fatalf("version after a deleted 2 = %v, want 3", body)
		}
		var n int
		if err := ts.Server.DB.Read.QueryRow(`SELECT COUNT(*) FROM e2ee_backup_keys WHERE version = 2`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("keys of the deleted version left in the database: %d (%v)", n, err)
		}
	})
}

// TestE2EEBackupConcurrentUploads: devices of one user upload to the same
// backup at once; every key arrives, each session keeps its best key and
// the etag changed once per change.
func TestE2EEBackupConcurrentUploads(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, nil)
		alice := e2eeUser(t, ts, "alice")
		st, body := e2eeCall(t, ts, alice, http.MethodPost, "/room_keys/version", map[string]any{"algorithm": backupAlg, "auth_data": map[string]any{}})
		wantStatus(t, "create", st, body, http.StatusOK, "")
		const workers = 12
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sessions := map[string]any{
					fmt.Sprintf("own-%02d", w): backupKey(0, 0, false, fmt.Sprintf("own-%d", w)),
					"shared":                   backupKey(100-w, 0, false, fmt.Sprintf("shared-%d", w)),
				}
				st, body := e2eeCall(t, ts, alice, http.MethodPut, "/room_keys/keys?version=1",
					map[string]any{"rooms": map[string]any{"!r:ward.test": map[string]any{"sessions": sessions}}})
				if st != http.StatusOK {
					t.Errorf("upload %d: %d %v", w, st, body)
				}
			}()
		}
		wg.Wait()
		st, cur := e2eeCall(t, ts, alice, http.MethodGet, "/room_keys/version", nil)
		if st != http.StatusOK || cur["count"] != float64(workers+1) {
			t.Fatalf("after concurrent uploads: %d %v, want count %d", st, cur, workers+1)
		}
		_, shared := e2eeCall(t, ts, alice, http.MethodGet, "/room_keys/keys/"+url.PathEscape("!r:ward.test")+"/shared?version=1", nil)
		if shared["first_message_index"] != float64(100-(workers-1)) {
			t.Fatalf("shared session kept %v, want the lowest index %d", shared, 100-(workers-1))
		}
	})
}
