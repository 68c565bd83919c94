// Package worker is the body both Go worker programs share: the same arguments as `kit worker`,
// the same JSON-lines progress, the same per-item failure accounting (kit/worker.py). Images go
// through the program's Pipeline; the task workloads (pi, count, payload: internal/tasks) write
// each task's result as text to its output file, as the Python workloads do.
package worker

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"kit/go/internal/cgroupstat"
	"kit/go/internal/contract"
	"kit/go/internal/pool"
	"kit/go/internal/stages"
	"kit/go/internal/tasks"
)

// ItemFailed is a bad input: counted as a failed item with this reason, never a crash.
type ItemFailed struct{ Reason string }

func (e *ItemFailed) Error() string { return e.Reason }

// Failed makes an ItemFailed error.
func Failed(reason string) error { return &ItemFailed{Reason: reason} }

// Pipeline turns one input file's bytes into the output file's bytes. It laps s's decode stage
// after decoding and its resize stage after resizing (only when it resizes); the worker laps
// read, encode (on the pipeline's return) and write: see stages.Images.
type Pipeline func(data []byte, s *stages.Images) ([]byte, error)

// Program describes one worker binary.
type Program struct {
	Strategy string
	Pipeline Pipeline
	// Setup runs once before any item (go-gocv pins OpenCV's threads there); it returns
	// what to add to the start event's concurrency record.
	Setup func() map[string]any
	// Tasks: the program also runs the task workloads (pi, count, payload) and --calibrate-pi.
	Tasks bool
}

type options struct {
	strategy, workload, startMethod, manifest, inputRoot, outputDir string
	workers, sampleIntervalMS                                       int
	calibrate                                                       float64
}

func (p Program) workloads() []string {
	if p.Tasks {
		return append([]string{"images"}, tasks.Names...)
	}
	return []string{"images"}
}

func parse(p Program, args []string, stderr io.Writer) (options, error) {
	var o options
	name := p.Strategy
	flags := flag.NewFlagSet(name, flag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.StringVar(&o.strategy, "strategy", name, "strategy name (must be this program's)")
	flags.StringVar(&o.workload, "workload", "images", "workload: "+strings.Join(p.workloads(), ", "))
	flags.IntVar(&o.workers, "workers", 1, "goroutines in the pool")
	flags.StringVar(&o.startMethod, "start-method", "fork", "ignored (Python process pools only)")
	flags.StringVar(&o.manifest, "manifest", "", "item list (JSON)")
	flags.StringVar(&o.inputRoot, "input-root", "", "directory the manifest's inputs are relative to")
	flags.StringVar(&o.outputDir, "output-dir", "", "directory for the outputs")
	flags.IntVar(&o.sampleIntervalMS, "sample-interval-ms", DefaultSampleIntervalMS,
		"read this sandbox's own cgroup this often and report it (0: never)")
	if p.Tasks {
		flags.Float64Var(&o.calibrate, "calibrate-pi", 0,
			"print (JSON) the pi iterations that take this many seconds here, and exit")
	}
	if err := flags.Parse(args); err != nil {
		return o, err
	}
	switch {
	case o.strategy != name:
		return o, fmt.Errorf("this program is %s, not %q", name, o.strategy)
	case o.calibrate < 0:
		return o, fmt.Errorf("--calibrate-pi %g: must be positive", o.calibrate)
	case o.calibrate > 0:
		return o, nil
	case !slices.Contains(p.workloads(), o.workload):
		return o, fmt.Errorf("unknown workload %q (%s runs %s)", o.workload, name, strings.Join(p.workloads(), ", "))
	case o.workers < 1:
		return o, fmt.Errorf("--workers %d: must be at least 1", o.workers)
	case o.sampleIntervalMS < 0 || o.sampleIntervalMS > MaxSampleIntervalMS:
		return o, fmt.Errorf("--sample-interval-ms %d: must be between 0 and %d", o.sampleIntervalMS,
			MaxSampleIntervalMS)
	case o.manifest == "" || o.inputRoot == "" || o.outputDir == "":
		return o, errors.New("--manifest, --input-root and --output-dir are required")
	}
	return o, nil
}

// Main runs the program over the manifest and returns the process exit code:
// 0 every item attempted, 1 the worker could not run, 2 invalid arguments.
func Main(p Program, args []string, stdout, stderr io.Writer) int {
	origin := time.Now()
	o, err := parse(p, args, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", p.Strategy, err)
		return 2
	}
	if o.calibrate > 0 { // the controller's calibration, outside any sandbox and timing
		if err := json.NewEncoder(stdout).Encode(tasks.Calibrate(o.calibrate)); err != nil {
			return 1
		}
		return 0
	}
	out := contract.NewWriter(stdout)
	samples := startSampler(o.sampleIntervalMS, origin, out)
	defer samples.finish() // on an early return; after the work it has already run (a no-op then)
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
	if p.Setup != nil && o.workload == "images" { // the task workloads never touch the image pipeline
		for key, value := range p.Setup() {
			concurrency[key] = value
		}
	}
	run := func(item contract.Item) (string, any) { return runItem(p.Pipeline, item) }
	if o.workload != "images" {
		// The session (payload's string) is made before the start event, outside the work window.
		session, taskRun, err := taskSession(o.workload, items)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", p.Strategy, err)
			return 1
		}
		if session.Notes != nil {
			concurrency["workload_session"] = session.Notes
		}
		run = func(item contract.Item) (string, any) { return taskRun(item, session.Argument) }
	}
	if err := out.Start(os.Getpid(), o.workers, concurrency); err != nil {
		return 1
	}
	since := func(t time.Time) float64 { return t.Sub(origin).Seconds() }
	process := func(item contract.Item) contract.ItemEvent {
		start := time.Now()
		reason, timed := run(item)
		return contract.ItemEvent{Index: item.Index, Name: item.Name, OK: reason == "",
			Start: since(start), End: since(time.Now()), Reason: reason, Stages: timed}
	}
	onPanic := func(item contract.Item, message string) contract.ItemEvent {
		now := since(time.Now())
		return contract.ItemEvent{Index: item.Index, Name: item.Name, Start: now, End: now,
			Reason: "internal error: " + message}
	}
	ok, failed := 0, 0
	var writeErr error
	report := func(event contract.ItemEvent) {
		if event.OK {
			ok++
		} else {
			failed++
		}
		if err := out.Item(event); err != nil && writeErr == nil {
			writeErr = err
		}
	}
	good := rejectKnownBad(items, since(time.Now()), report)
	pool.Run(good, o.workers, process, onPanic, report)
	samples.finish() // the last sample, after the work and before done
	if writeErr != nil || out.Done(ok, failed) != nil {
		return 1 // the controller went away: nobody reads the results
	}
	return 0
}

// rejectKnownBad reports every item the controller judged bad as failed, at no cost, before the
// pool starts, and returns the good ones, which alone go to the pool.
func rejectKnownBad(items []contract.Item, now float64, report func(contract.ItemEvent)) []contract.Item {
	good := make([]contract.Item, 0, len(items))
	for _, item := range items {
		if item.Problem == "" {
			good = append(good, item)
			continue
		}
		report(contract.ItemEvent{Index: item.Index, Name: item.Name, Start: now, End: now,
			Reason: item.Problem, Rejected: true})
	}
	return good
}

// taskSession makes the workload's session from the first task's parameters and returns how one
// task runs: parse its parameters, compute, write the result as one line of text. A successful
// payload task also returns its stages (stages.Payload); pi and count have none.
func taskSession(workload string, items []contract.Item) (tasks.Session, func(contract.Item, any) (string, any), error) {
	w, _ := tasks.Lookup(workload)
	var first tasks.Params
	if len(items) > 0 {
		params, err := tasks.ParseParams(items[0].Task)
		if err != nil {
			return tasks.Session{}, nil, fmt.Errorf("%s: %v", items[0].Name, err)
		}
		first = params
	}
	session, err := w.Session(first)
	if err != nil {
		return session, nil, err
	}
	return session, func(item contract.Item, argument any) (string, any) {
		params, err := tasks.ParseParams(item.Task)
		if err != nil {
			return err.Error(), nil
		}
		result, timed, err := w.Run(params, argument)
		if err != nil {
			return err.Error(), nil
		}
		if err := os.WriteFile(item.OutputPath, []byte(result+"\n"), 0o644); err != nil {
			return "cannot write output: " + errorText(err), nil
		}
		if timed == nil { // a nil *stages.Payload would be a non-nil any: "stages": null
			return "", nil
		}
		return "", timed
	}, nil
}

// runItem reads, transforms and writes one item; "" and its stages (a *stages.Images) mean
// success, otherwise the reason and no stages. Six clock reads per item (five without a resize).
func runItem(pipeline Pipeline, item contract.Item) (string, any) {
	s := stages.StartImages()
	data, err := os.ReadFile(item.InputPath)
	if err != nil {
		return "unreadable: " + errorText(err), nil
	}
	s.Lap(&s.Read)
	output, err := pipeline(data, &s)
	if err != nil {
		var failed *ItemFailed
		if errors.As(err, &failed) {
			return failed.Reason, nil
		}
		return err.Error(), nil
	}
	s.Lap(&s.Encode) // from the pipeline's last lap to its return: encoding, then freeing its buffers
	if err := writeOutput(item.OutputPath, output); err != nil {
		return "cannot write output: " + errorText(err), nil
	}
	s.Lap(&s.Write)
	return "", &s
}

var tempCounter atomic.Int64

// writeOutput writes under a temporary name in the same directory, then renames: a full disk or a
// killed worker never leaves a truncated output that looks finished (kit/worker/workloads/base.py does
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
	quota, hasQuota := cgroupstat.CPUQuota()
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
