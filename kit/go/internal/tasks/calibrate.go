package tasks

import (
	"runtime"
	"slices"
	"time"
)

// Calibration says how many of Pi's iterations take about TargetSeconds on this machine, as
// kit/workloads/pi.py calibrate does for Python, so that a Go task and a Python task take the
// same time (seed 001 gave Go 8 billion iterations and Python 250 million for ~2 s each).
type Calibration struct {
	Iterations          int64   `json:"iterations"`
	TargetSeconds       float64 `json:"target_seconds"`
	ProbeIterations     int64   `json:"probe_iterations"`
	ProbeSeconds        float64 `json:"probe_seconds"`
	SecondsPerIteration float64 `json:"seconds_per_iteration"`
	Go                  string  `json:"go"`
}

// ProbeSeconds is how long a probe must run before it is trusted (the same as Python's).
const ProbeSeconds = 0.2

// Calibrate doubles the iterations until one run takes ProbeSeconds, takes the median of three
// runs there (short bursts run faster than a sustained loop on a shared or boosting CPU) and
// scales linearly to target seconds, rounded to thousands.
func Calibrate(targetSeconds float64) Calibration {
	iterations := int64(20_000)
	for timed(iterations) < ProbeSeconds {
		iterations *= 2
	}
	runs := []float64{timed(iterations), timed(iterations), timed(iterations)}
	slices.Sort(runs)
	typical := runs[1]
	chosen := int64(float64(iterations)*targetSeconds/typical/1000+0.5) * 1000
	return Calibration{Iterations: max(1000, chosen), TargetSeconds: targetSeconds,
		ProbeIterations: iterations, ProbeSeconds: float64(int64(typical*1e4+0.5)) / 1e4,
		SecondsPerIteration: typical / float64(iterations), Go: runtime.Version()}
}

var sink float64 // keeps the compiler from dropping a probe's result

func timed(iterations int64) float64 {
	started := time.Now()
	sink += Pi(iterations)
	return time.Since(started).Seconds()
}
