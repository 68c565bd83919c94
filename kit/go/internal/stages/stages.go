// Package stages measures where an item's CPU goes, stage by stage, on the OS thread that runs
// it: the thread's own CPU clock (CLOCK_THREAD_CPUTIME_ID) read at each stage's end. The caller's
// goroutine must be locked to its thread (runtime.LockOSThread, as internal/pool does), or a
// stage could start on one thread and end on another; cgo calls run on that same thread, so
// OpenCV's C++ decode is counted where it happens.
package stages

import (
	"strconv"
	"syscall"
	"unsafe"
)

// clockThreadCPUTimeID is Linux's CLOCK_THREAD_CPUTIME_ID: the calling thread's CPU, user + system.
const clockThreadCPUTimeID = 3

// ThreadCPUSeconds is the calling OS thread's CPU seconds (0 if the clock cannot be read).
func ThreadCPUSeconds() float64 { return float64(threadCPUNanoseconds()) / 1e9 }

// threadCPUNanoseconds is the calling OS thread's CPU in nanoseconds (0 if unreadable).
//
// RawSyscall, not Syscall: clock_gettime never blocks, so the scheduler needs no notice, and the
// read costs the system call alone (see BenchmarkClockRead). Go's runtime reads its own clocks
// through the vDSO but exposes no thread CPU clock, and golang.org/x/sys/unix would be a plain
// system call too, plus a module to download in every build.
func threadCPUNanoseconds() int64 {
	var ts syscall.Timespec
	if _, _, errno := syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID,
		uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		return 0
	}
	return ts.Nano()
}

// Seconds is a stage's CPU seconds, always written as a JSON float ("0.0", never "0"), as the
// Python workers write theirs.
type Seconds float64

// MarshalJSON writes the shortest text that reads back as the same float, with a decimal point.
func (s Seconds) MarshalJSON() ([]byte, error) {
	text := strconv.AppendFloat(nil, float64(s), 'g', -1, 64)
	for _, c := range text {
		if c == '.' || c == 'e' {
			return text, nil
		}
	}
	return append(text, '.', '0'), nil
}

// Clock splits the thread's CPU into consecutive stages. It keeps whole nanoseconds, so a
// stage is the exact difference of two readings (0.000196187, not 0.00019618699999999958).
type Clock struct{ lastNanoseconds int64 }

// Start reads the clock: the first stage begins now.
func Start() Clock { return Clock{lastNanoseconds: threadCPUNanoseconds()} }

// Lap adds the thread CPU since the previous Lap (or Start) to *stage, and begins the next stage.
func (c *Clock) Lap(stage *Seconds) {
	now := threadCPUNanoseconds()
	*stage += Seconds(float64(now-c.lastNanoseconds) / 1e9)
	c.lastNanoseconds = now
}

// Images is one image item's stages, emitted as the item event's "stages" (ok items only).
//
// The worker laps read and write; the pipeline laps decode after decoding and resize after
// resizing (never, when nothing needs resizing: the stage stays 0.0); whatever follows until the
// pipeline returns, freeing its buffers included, is encode, which the worker laps on return.
// Clock reads per item: 6 (5 without a resize). BenchmarkClockRead measured 0.39-0.70 µs a read
// on a 2-core VM under load 16: about 3 µs an item, under 0.01% of a 4K item's 60-140 ms of CPU
// and under 0.03% of a 15 ms 1080p one (the bar is 1%).
type Images struct {
	Read   Seconds `json:"read"`
	Decode Seconds `json:"decode"`
	Resize Seconds `json:"resize"`
	Encode Seconds `json:"encode"`
	Write  Seconds `json:"write"`
	clock  Clock
}

// StartImages begins an image item: its read stage starts now.
func StartImages() Images { return Images{clock: Start()} }

// Lap ends the current stage, adding its CPU to *stage (one of s's own fields).
func (s *Images) Lap(stage *Seconds) { s.clock.Lap(stage) }

// Payload is one payload task's stages: what handing the string to the task cost. A Go task gets
// a pointer to the one shared string, so nothing is serialized, copied or parsed; the stages are
// measured around what stands in their place (nothing, the call that passes the pointer, the
// type assertion that takes it back) and show the clock's own resolution, well under 1 µs each.
type Payload struct {
	Serialize   Seconds `json:"serialize"`
	Transfer    Seconds `json:"transfer"`
	Deserialize Seconds `json:"deserialize"`
}
