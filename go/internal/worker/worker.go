// Package worker is the body both Go worker programs share: the same arguments as `kit worker`,
// the same JSON-lines progress, the same per-item failure accounting (kit/worker.py).
package worker

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"

	"kit/go/internal/cgroupcpu"
	"kit/go/internal/contract"
	"kit/go/internal/pool"
)

// ItemFailed is a bad input: counted as a failed item with this reason, never a crash.
type ItemFailed struct{ Reason string }

func (e *ItemFailed) Error() string { return e.Reason }

// Failed makes an ItemFailed error.
func Failed(reason string) error { return &ItemFailed{Reason: reason} }

// Pipeline turns one input file's bytes into the output file's bytes.
type Pipeline func(data []byte) ([]byte, error)

// Program describes one worker binary.
type Program struct {
	Strategy string
	Pipeline Pipeline
	// Setup runs once before any item (go-gocv pins OpenCV's threads there); it returns
	// what to add to the start event's concurrency record.
	Setup func() map[string]any
}

type options struct {
	strategy, workload, startMethod, manifest, inputRoot, outputDir string
	workers                                                         int
}

func parse(name string, args []string, stderr io.Writer) (options, error) {
	var o options
	flags := flag.NewFlagSet(name, flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.StringVar(&o.strategy, "strategy", name, "strategy name (must be this program's)")
	flags.StringVar(&o.workload, "workload", "images", "workload (only images)")
	flags.IntVar(&o.workers, "workers", 1, "goroutines in the pool")
	flags.StringVar(&o.startMethod, "start-method", "fork", "ignored (Python process pools only)")
	flags.StringVar(&o.manifest, "manifest", "", "item list (JSON)")
	flags.StringVar(&o.inputRoot, "input-root", "", "directory the manifest's inputs are relative to")
	flags.StringVar(&o.outputDir, "output-dir", "", "directory for the outputs")
	if err := flags.Parse(args); err != nil {
		return o, err
	}
	switch {
	case o.strategy != name:
		return o, fmt.Errorf("this program is %s, not %q", name, o.strategy)
	case o.workload != "images":
		return o, fmt.Errorf("unknown workload %q (the Go workers do images only)", o.workload)
	case o.workers < 1:
		return o, fmt.Errorf("--workers %d: must be at least 1", o.workers)
	case o.manifest == "" || o.inputRoot == "" || o.outputDir == "":
		return o, errors.New("--manifest, --input-root and --output-dir are required")
	}
	return o, nil
}

// Main runs the program over the manifest and returns the process exit code:
// 0 every item attempted, 1 the worker could not run, 2 invalid arguments.
func Main(p Program, args []string, stdout, stderr io.Writer) int {
	origin := time.Now()
	o, err := parse(p.Strategy, args, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", p.Strategy, err)
		return 2
	}
	items, err := contract.ReadManifest(o.manifest, o.inputRoot, o.outputDir)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", p.Strategy, err)
		return 1
	}
	if err := os.MkdirAll(o.outputDir, 0o755); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", p.Strategy, err)
		return 1
	}
	concurrency := Concurrency(o.workers)
	if p.Setup != nil {
		for key, value := range p.Setup() {
			concurrency[key] = value
		}
	}
	out := contract.NewWriter(stdout)
	if err := out.Start(os.Getpid(), o.workers, concurrency); err != nil {
		return 1
	}
	since := func(t time.Time) float64 { return t.Sub(origin).Seconds() }
	process := func(item contract.Item) contract.ItemEvent {
		start := time.Now()
		reason := runItem(p.Pipeline, item)
		return contract.ItemEvent{Index: item.Index, Name: item.Name, OK: reason == "",
			Start: since(start), End: since(time.Now()), Reason: reason}
	}
	onPanic := func(item contract.Item, message string) contract.ItemEvent {
		now := since(time.Now())
		return contract.ItemEvent{Index: item.Index, Name: item.Name, Start: now, End: now,
			Reason: "internal error: " + message}
	}
	ok, failed := 0, 0
	var writeErr error
	pool.Run(items, o.workers, process, onPanic, func(event contract.ItemEvent) {
		if event.OK {
			ok++
		} else {
			failed++
		}
		if err := out.Item(event); err != nil && writeErr == nil {
			writeErr = err
		}
	})
	if writeErr != nil || out.Done(ok, failed) != nil {
		return 1 // the controller went away: nobody reads the results
	}
	return 0
}

// runItem reads, transforms and writes one item; "" means success, otherwise the reason.
func runItem(pipeline Pipeline, item contract.Item) string {
	data, err := os.ReadFile(item.InputPath)
	if err != nil {
		return "unreadable: " + errorText(err)
	}
	output, err := pipeline(data)
	if err != nil {
		var failed *ItemFailed
		if errors.As(err, &failed) {
			return failed.Reason
		}
		return err.Error()
	}
	if err := writeOutput(item.OutputPath, output); err != nil {
		return "cannot write output: " + errorText(err)
	}
	return ""
}

var tempCounter atomic.Int64

// writeOutput writes under a temporary name in the same directory, then renames: a full disk or a
// killed worker never leaves a truncated output that looks finished (kit/workloads/base.py does
// the same). The mode is WriteFile's 0644 minus the umask.
func writeOutput(path string, data []byte) error {
	tmp := filepath.Join(filepath.Dir(path),
		fmt.Sprintf(".%s.%d-%d.tmp", filepath.Base(path), os.Getpid(), tempCounter.Add(1)))
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// errorText is the OS's words for err (as Python's strerror), without the path.
func errorText(err error) string {
	var pathErr *os.PathError
	if errors.As(err, &pathErr) {
		err = pathErr.Err
	}
	text := err.Error()
	if text != "" && text[0] >= 'a' && text[0] <= 'z' {
		text = string(text[0]-'a'+'A') + text[1:] // "No such file or directory", as Python says it
	}
	return text
}

// Concurrency is what decides parallelism in a Go worker, recorded in results.json: the
// goroutines, GOMAXPROCS (Go 1.25+ derives its default from the cgroup CPU limit) and the
// quota this process saw, the Go version, and the garbage collector's settings.
func Concurrency(workers int) map[string]any {
	quota, hasQuota := cgroupcpu.Quota()
	var quotaValue any
	if hasQuota {
		quotaValue = quota
	}
	source := "Go runtime default (CPUs, capped by the cgroup CPU limit since Go 1.25)"
	if env := os.Getenv("GOMAXPROCS"); env != "" {
		source = "GOMAXPROCS=" + env
	}
	gogc := os.Getenv("GOGC")
	if gogc == "" {
		gogc = "100"
	}
	var memoryLimit any // math.MaxInt64 means none
	if limit := debug.SetMemoryLimit(-1); limit != int64(^uint64(0)>>1) {
		memoryLimit = limit
	}
	return map[string]any{
		"language":            "go",
		"go":                  runtime.Version(),
		"gomaxprocs":          runtime.GOMAXPROCS(0),
		"gomaxprocs_source":   source,
		"num_cpu":             runtime.NumCPU(),
		"cpu_quota_cores":     quotaValue,
		"gogc":                gogc,
		"gomemlimit_bytes":    memoryLimit,
		"workers":             workers,
		"goroutines_per_item": 1,
		"start_method":        nil,
	}
}
