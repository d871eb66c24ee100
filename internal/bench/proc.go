package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ProcStats is what sampling a server process found.
type ProcStats struct {
	PID        int     `json:"pid"`
	PeakRSSMiB float64 `json:"peak_rss_mib"`
	LastRSSMiB float64 `json:"last_rss_mib"`
	CPUSeconds float64 `json:"cpu_seconds"`
	// CPUPercent is CPU time over wall time while sampling; 100 is one
	// core fully busy.
	CPUPercent float64 `json:"cpu_percent"`
	Samples    int     `json:"samples"`
}

// clockTicks is USER_HZ, which Linux fixes at 100 for /proc/PID/stat.
const clockTicks = 100

// Sampler reads a process's resident memory and CPU time from /proc.
type Sampler struct {
	pid      int
	mu       sync.Mutex
	stats    ProcStats
	cpu0     float64
	start    time.Time
	stop     context.CancelFunc
	finished chan struct{}
}

// StartSampler samples pid every interval until Stop. It fails at once
// when the process cannot be read.
func StartSampler(pid int, interval time.Duration) (*Sampler, error) {
	cpu, err := readCPU(pid)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sampler{pid: pid, cpu0: cpu, start: time.Now(), stop: cancel, finished: make(chan struct{})}
	s.stats.PID = pid
	s.sample()
	go func() {
		defer close(s.finished)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.sample()
			}
		}
	}()
	return s, nil
}

func (s *Sampler) sample() {
	rss, err := readRSS(s.pid)
	if err != nil {
		return
	}
	s.mu.Lock()
	s.stats.Samples++
	s.stats.LastRSSMiB = rss
	s.stats.PeakRSSMiB = max(s.stats.PeakRSSMiB, rss)
	s.mu.Unlock()
}

// Stop ends the sampling and returns what it found.
func (s *Sampler) Stop() ProcStats {
	s.stop()
	<-s.finished
	s.sample()
	s.mu.Lock()
	defer s.mu.Unlock()
	if cpu, err := readCPU(s.pid); err == nil {
		s.stats.CPUSeconds = round3(cpu - s.cpu0)
		if wall := time.Since(s.start).Seconds(); wall > 0 {
			s.stats.CPUPercent = round3(100 * (cpu - s.cpu0) / wall)
		}
	}
	s.stats.PeakRSSMiB = round3(s.stats.PeakRSSMiB)
	s.stats.LastRSSMiB = round3(s.stats.LastRSSMiB)
	return s.stats
}

// readRSS returns VmRSS in MiB.
func readRSS(pid int) (float64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			fields := strings.Fields(rest)
			if len(fields) == 0 {
				break
			}
			kb, err := strconv.ParseFloat(fields[0], 64)
			if err != nil {
				return 0, err
			}
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

// readCPU returns user+system CPU seconds of pid.
func readCPU(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; fields after its ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(string(data[i+1:]))
	// After ')': state is field 3, utime field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad cpu times", pid)
	}
	return (ut + st) / clockTicks, nil
}

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }
