package worker

import (
	"runtime"
	"sync"
	"syscall"
	"time"

	"kit/go/internal/cgroupstat"
	"kit/go/internal/contract"
)

// DefaultSampleIntervalMS is kit.worker.sampler.DEFAULT_SAMPLE_INTERVAL_MS: the controller passes
// --sample-interval-ms only when it differs.
const DefaultSampleIntervalMS = 250

// MaxSampleIntervalMS is kit.worker.sampler.MAX_SAMPLE_INTERVAL_MS.
const MaxSampleIntervalMS = 60_000

const rusageThread = 1 // RUSAGE_THREAD: this OS thread's CPU only

// threadCPU is the calling OS thread's CPU seconds (user + system).
func threadCPU() float64 {
	var usage syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &usage); err != nil {
		return 0
	}
	return float64(usage.Utime.Nano()+usage.Stime.Nano()) / 1e9
}

// sampler reads the worker's own cgroup on its own goroutine (kit/worker/sampler.py's twin) and writes
// sample events; it counts its own CPU (on a locked OS thread) as the cost of sampling.
type sampler struct {
	group    cgroupstat.Group
	interval time.Duration
	origin   time.Time
	out      *contract.Writer
	mu       sync.Mutex
	cost     float64
	stop     chan struct{}
	done     chan struct{}
	once     sync.Once
}

// startSampler starts sampling every intervalMS, or returns nil (0 ms, or no visible cgroup).
func startSampler(intervalMS int, origin time.Time, out *contract.Writer) *sampler {
	if intervalMS <= 0 {
		return nil
	}
	group, err := cgroupstat.FindOwn()
	if err != nil {
		return nil
	}
	s := &sampler{group: group, interval: time.Duration(intervalMS) * time.Millisecond, origin: origin, out: out,
		stop: make(chan struct{}), done: make(chan struct{})}
	go s.loop()
	return s
}

func (s *sampler) loop() {
	defer close(s.done)
	runtime.LockOSThread() // the thread's CPU is the sampler's alone
	defer runtime.UnlockOSThread()
	ticker := time.NewTicker(s.interval)
	defer ticker.Stop()
	for {
		s.sample()
		select {
		case <-s.stop:
			return
		case <-ticker.C:
		}
	}
}

func (s *sampler) sample() {
	s.mu.Lock()
	defer s.mu.Unlock()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := threadCPU()
	stats := s.group.Read()
	event := contract.SampleEvent{TSeconds: time.Since(s.origin).Seconds(), UsageBytes: stats.UsageBytes,
		WorkingSetBytes: stats.WorkingSetBytes, CPUSeconds: stats.CPUSeconds, ThrottledSeconds: stats.ThrottledSecs,
		ThrottledPeriods: stats.ThrottledPeriod, OOMKills: stats.OOMKills}
	if stats.HasPeak {
		peak := stats.PeakUsageBytes
		event.PeakUsageBytes = &peak
	}
	event.SamplerCPUSeconds = s.cost + threadCPU() - before
	_ = s.out.Sample(event) // a lost controller is noticed by the item and done writes
	s.cost += threadCPU() - before
}

// finish ends the goroutine and takes the last sample, before the done event; only the first call
// does anything (nil: no sampler).
func (s *sampler) finish() {
	if s == nil {
		return
	}
	s.once.Do(func() {
		close(s.stop)
		<-s.done
		s.sample()
	})
}
