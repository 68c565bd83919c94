package tasks

import (
	"runtime"
	"slices"
	"syscall"
	"time"
	"unsafe"
)

// Calibration says how many of Pi's iterations take about TargetSeconds of CPU on this machine,
// as kit/worker/workloads/pi.py calibrate does for Python, so that a Go task and a Python task take the
// same time (seed 001 gave Go 8 billion iterations and Python 250 million for ~2 s each). Like
// Python's, it times the calibrating thread's CPU, not the wall clock, so a busy moment during one
// language's calibration does not make its tasks shorter than the other's for good.
type Calibration struct {
	Iterations          int64   `json:"iterations"`
	TargetSeconds       float64 `json:"target_seconds"`
	Clock               string  `json:"clock"`
	ProbeIterations     int64   `json:"probe_iterations"`
	ProbeSeconds        float64 `json:"probe_seconds"`
	SecondsPerIteration float64 `json:"seconds_per_iteration"`
	CPUShare            float64 `json:"cpu_share"` // the probes' CPU over their wall time: under 1, the machine was busy
	Go                  string  `json:"go"`
}

// Clock is what the probes measure (kit.worker.workloads.pi.CALIBRATION_CLOCK).
const Clock = "thread CPU time"

// ProbeSeconds is how long a probe must run before it is trusted (the same as Python's).
const ProbeSeconds = 0.2

// Calibrate doubles the iterations until one run takes ProbeSeconds of this thread's CPU, takes
// the median of three runs there (short bursts run faster than a sustained loop on a boosting CPU)
// and scales linearly to target seconds, rounded to thousands.
func Calibrate(targetSeconds float64) Calibration {
	runtime.LockOSThread() // the thread whose CPU time is read is the one that runs the probes
	defer runtime.UnlockOSThread()
	iterations := int64(20_000)
	for cpu, _ := timed(iterations); cpu < ProbeSeconds; cpu, _ = timed(iterations) {
		iterations *= 2
	}
	var cpus []float64
	var cpuSum, wallSum float64
	for range 3 {
		cpu, wall := timed(iterations)
		cpus = append(cpus, cpu)
		cpuSum, wallSum = cpuSum+cpu, wallSum+wall
	}
	slices.Sort(cpus)
	typical := cpus[1]
	chosen := int64(float64(iterations)*targetSeconds/typical/1000+0.5) * 1000
	return Calibration{Iterations: max(1000, chosen), TargetSeconds: targetSeconds, Clock: Clock,
		ProbeIterations: iterations, ProbeSeconds: float64(int64(typical*1e4+0.5)) / 1e4,
		SecondsPerIteration: typical / float64(iterations),
		CPUShare:            float64(int64(cpuSum/wallSum*1e3+0.5)) / 1e3, Go: runtime.Version()}
}

var sink float64 // keeps the compiler from dropping a probe's result

// timed is this thread's CPU seconds and the wall seconds of one Pi(iterations); the CPU seconds
// are the wall seconds where the thread's usage cannot be read (never seen on Linux).
func timed(iterations int64) (cpu, wall float64) {
	cpuStart, cpuOK := threadCPU()
	started := time.Now()
	sink += Pi(iterations)
	wall = time.Since(started).Seconds()
	cpuEnd, endOK := threadCPU()
	if !cpuOK || !endOK {
		return wall, wall
	}
	return cpuEnd - cpuStart, wall
}

// clockThreadCPUTime is Linux's CLOCK_THREAD_CPUTIME_ID, what Python's time.thread_time() reads:
// the calling thread's CPU time in nanoseconds (getrusage's per-thread figures move in ticks).
const clockThreadCPUTime = 3

func threadCPU() (float64, bool) {
	var ts syscall.Timespec
	if _, _, errno := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTime,
		uintptr(unsafe.Pointer(&ts)), 0); errno != 0 {
		return 0, false
	}
	return float64(ts.Nano()) / 1e9, true
}
