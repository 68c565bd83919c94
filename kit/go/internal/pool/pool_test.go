package pool

import (
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func TestEveryItemOnceAndNeverMoreThanWorkersAtATime(t *testing.T) {
	items := make([]int, 50)
	for i := range items {
		items[i] = i
	}
	var running, peak atomic.Int32
	seen := map[int]int{}
	Run(items, 3, func(i int) int {
		now := running.Add(1)
		for {
			old := peak.Load()
			if now <= old || peak.CompareAndSwap(old, now) {
				break
			}
		}
		time.Sleep(time.Millisecond)
		running.Add(-1)
		return i
	}, func(i int, _ string) int { return -1 }, func(r int) { seen[r]++ })
	if len(seen) != 50 {
		t.Fatalf("%d distinct results, want 50", len(seen))
	}
	for i, n := range seen {
		if n != 1 || i < 0 {
			t.Fatalf("item %d seen %d times", i, n)
		}
	}
	if p := peak.Load(); p > 3 || p < 2 {
		t.Fatalf("peak concurrency %d, want 2..3", p)
	}
}

func TestAPanickingItemBecomesAResultAndTheBatchGoesOn(t *testing.T) {
	var results []string
	Run([]int{1, 2, 3}, 2, func(i int) string {
		if i == 2 {
			panic("boom")
		}
		return "ok"
	}, func(i int, message string) string { return "panic: " + message }, func(r string) { results = append(results, r) })
	if len(results) != 3 {
		t.Fatalf("results %v", results)
	}
	panics := 0
	for _, r := range results {
		if r == "panic: boom" {
			panics++
		}
	}
	if panics != 1 {
		t.Fatalf("results %v", results)
	}
}

func TestEachWorkerStaysOnItsOwnOSThread(t *testing.T) {
	items := make([]int, 40)
	threads := map[int]bool{}
	Run(items, 2, func(int) int {
		time.Sleep(100 * time.Microsecond) // parks the goroutine: unlocked, it would wake on any thread
		return syscall.Gettid()
	}, func(int, string) int { return -1 }, func(tid int) { threads[tid] = true })
	if len(threads) > 2 {
		t.Fatalf("2 workers ran on %d OS threads", len(threads))
	}
}
