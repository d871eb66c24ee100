package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"ward/internal/dbtest"
)

// TestVerifyCheckpointRemovedByTruncation: a kept checkpoint whose entry a
// signed truncation removed is checked against the hash the truncation
// names when it is the last entry removed (a made-up hash fails), and
// otherwise cannot be checked: verify says so and exits non-zero instead
// of calling the trail whole.
func TestVerifyCheckpointRemovedByTruncation(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ward := adminOn(t, b)
		for _, u := range []string{"ana", "ben", "cid"} {
			if out, err := ward("user", "create", "--user", u); err != nil {
				t.Fatalf("user create: %v %s", err, out)
			}
		}
		time.Sleep(20 * time.Millisecond)
		cut := strconv.FormatInt(time.Now().UnixMilli(), 10)
		time.Sleep(20 * time.Millisecond)
		if out, err := ward("audit", "truncate", "--before", cut); err != nil {
			t.Fatalf("truncate: %v %s", err, out)
		}
		out, err := ward("audit", "export", "--action", "audit.truncate")
		if err != nil {
			t.Fatal(err)
		}
		var trunc struct {
			Seq    int64             `json:"seq"`
			Detail map[string]string `json:"detail"`
		}
		if err := json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &trunc); err != nil {
			t.Fatalf("export: %v %q", err, out)
		}
		through, _ := strconv.ParseInt(trunc.Detail["through_seq"], 10, 64)
		if through < 2 || len(trunc.Detail["through_hash"]) != 64 {
			t.Fatalf("truncation entry: %+v", trunc)
		}

		good := fmt.Sprintf("%d:%s", through, trunc.Detail["through_hash"])
		if out, err := ward("audit", "verify", "--checkpoint", good); err != nil || !strings.Contains(out, "whole") {
			t.Fatalf("verify --checkpoint at the truncation's last entry: %v %q", err, out)
		}
		madeUp := fmt.Sprintf("%d:%s", through, strings.Repeat("ab", 32))
		if out, err := ward("audit", "verify", "--checkpoint", madeUp); err == nil || strings.Contains(out, "whole") ||
			!strings.Contains(out, "differs from the kept checkpoint") {
			t.Fatalf("verify with a made-up hash at the truncation's last entry: %v %q", err, out)
		}
		older := fmt.Sprintf("%d:%s", through-1, strings.Repeat("cd", 32))
		want := fmt.Sprintf("removed by the signed truncation at entry %d", trunc.Seq)
		if out, err := ward("audit", "verify", "--checkpoint", older); err == nil || strings.Contains(out, "whole") ||
			!strings.Contains(out, want) {
			t.Fatalf("verify with a checkpoint older than the truncation: %v %q", err, out)
		}
	})
}
