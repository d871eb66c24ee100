package clientapi_test

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"ward/internal/config"
	"ward/internal/dbtest"
	"ward/internal/server/servertest"
)

// heapPeak samples the heap of this process (the server runs in it) while
// fn runs and returns how far HeapInuse rose above its level before.
func heapPeak(fn func()) (baseline, peak uint64) {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	baseline = ms.HeapInuse
	var top atomic.Uint64
	top.Store(baseline)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			default:
			}
			runtime.ReadMemStats(&m)
			if m.HeapInuse > top.Load() {
				top.Store(m.HeapInuse)
			}
			runtime.Gosched()
		}
	}()
	fn()
	close(stop)
	wg.Wait()
	return baseline, top.Load()
}

// Uploads stream to disk: neither a large accepted body nor a far larger
// refused one is held in memory.
func TestMediaUploadMemoryStaysFlat(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, b dbtest.Backend) {
		ts := servertest.Start(t, b, func(c *config.Config) {
			c.MaxUploadBytes = 64 << 20
			c.MediaQuotaBytes = 0
		})
		alice := register(t, ts, "alice")
		tok := alice.cli.AccessToken
		// A generous margin: the bodies are 48 MiB and 256 MiB.
		const margin = 24 << 20

		var a mediaAnswer
		base, peak := heapPeak(func() {
			a = fetch(t, ts, tok, "POST", "/_matrix/media/v3/upload", &patternReader{left: 48 << 20}, "application/octet-stream")
		})
		if a.Status != 200 {
			t.Fatalf("48 MiB upload: %d %s", a.Status, a.Body)
		}
		t.Logf("48 MiB accepted upload: heap in use %d MiB before, peak %d MiB (+%d KiB)", base>>20, peak>>20, (peak-base)>>10)
		if peak-base > margin {
			t.Fatalf("heap grew by %d MiB during a 48 MiB upload", (peak-base)>>20)
		}

		base, peak = heapPeak(func() {
			a = fetch(t, ts, tok, "POST", "/_matrix/media/v3/upload", &patternReader{left: 256 << 20}, "application/octet-stream")
		})
		a.wantError(t, "256 MiB upload over a 64 MiB limit", 413, "M_TOO_LARGE")
		t.Logf("256 MiB refused upload: heap in use %d MiB before, peak %d MiB (+%d KiB)", base>>20, peak>>20, (peak-base)>>10)
		if peak-base > margin {
			t.Fatalf("heap grew by %d MiB during a refused 256 MiB upload", (peak-base)>>20)
		}
	})
}
