// Package pool runs items through a fixed number of goroutines fed by a channel
// (the pattern of the study's Go programs), so one slow item never idles the others.
package pool

import (
	"fmt"
	"runtime"
	"sync"
)

// Run calls process(item) on `workers` goroutines and hands every result to collect, one at a
// time, on the caller's goroutine. A panic in process becomes that item's result via onPanic,
// so one bad input can never crash the batch. Each worker goroutine is locked to its own OS
// thread for its whole life, so the thread's CPU clock measures its items alone
// (internal/stages), cgo calls included.
func Run[I, R any](items []I, workers int, process func(I) R, onPanic func(I, string) R, collect func(R)) {
	if workers < 1 {
		workers = 1
	}
	jobs := make(chan I)
	results := make(chan R)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			for item := range jobs {
				results <- safely(item, process, onPanic)
			}
		}()
	}
	go func() {
		for _, item := range items {
			jobs <- item
		}
		close(jobs)
		wg.Wait()
		close(results)
	}()
	for result := range results {
		collect(result)
	}
}

func safely[I, R any](item I, process func(I) R, onPanic func(I, string) R) (result R) {
	defer func() {
		if p := recover(); p != nil {
			result = onPanic(item, fmt.Sprint(p))
		}
	}()
	return process(item)
}
