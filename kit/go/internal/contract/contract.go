// Package contract is the worker contract of kit/worker/protocol.py, in Go: a manifest in, JSON lines out.
//
// The controller (Python) writes {"items": [{"name", "input", "output"[, "task"][, "problem"]}, ...]},
// where "task" is a task workload's parameters (pi, count, payload: input is "") and "problem" is
// the controller's verdict on a bad input (kit/input_check.py); the worker prints one
// JSON object per line on stdout: a start event, one item event per item, a done event.
package contract

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// Item is one manifest entry with its paths as this worker sees them.
type Item struct {
	Index      int
	Name       string
	InputPath  string
	OutputPath string
	Problem    string // the controller's verdict on a bad input; "" for a good one
	Task       string // a task's parameters as raw JSON (e.g. {"iterations":2500000}); "" for an image
}

type manifestFile struct {
	Items []struct {
		Name    string          `json:"name"`
		Input   string          `json:"input"`
		Output  string          `json:"output"`
		Problem string          `json:"problem"`
		Task    json.RawMessage `json:"task"`
	} `json:"items"`
}

// ReadManifest reads the item list, joining paths like kit.worker.protocol.read_manifest does.
func ReadManifest(path, inputRoot, outputDir string) ([]Item, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var manifest manifestFile
	if err := json.Unmarshal(data, &manifest); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	items := make([]Item, len(manifest.Items))
	for i, entry := range manifest.Items {
		input := "" // a task has no input file, as kit.worker.protocol.read_manifest says
		if entry.Input != "" {
			input = filepath.Join(inputRoot, entry.Input)
		}
		items[i] = Item{Index: i, Name: entry.Name, InputPath: input,
			OutputPath: filepath.Join(outputDir, entry.Output), Problem: entry.Problem, Task: string(entry.Task)}
	}
	return items, nil
}

// ItemEvent is the outcome of one item; Start and End are seconds since the worker started.
type ItemEvent struct {
	Index  int     `json:"index"`
	Name   string  `json:"name"`
	OK     bool    `json:"ok"`
	Start  float64 `json:"start"`
	End    float64 `json:"end"`
	Reason string  `json:"reason,omitempty"`
	// Stages: a successful item's CPU seconds per stage on the thread that ran it
	// (internal/stages: Images or Payload); nil (no key) for a failed item, pi and count.
	Stages any `json:"stages,omitempty"`
	// Rejected: failed by the controller's verdict, never processed (outside the work window).
	Rejected bool `json:"rejected,omitempty"`
}

// Writer prints events as JSON lines; safe for concurrent use, one whole line per write.
type Writer struct {
	mu  sync.Mutex
	out io.Writer
}

// NewWriter writes to out (os.Stdout in a worker).
func NewWriter(out io.Writer) *Writer { return &Writer{out: out} }

func (w *Writer) emit(event string, fields any) error {
	body, err := json.Marshal(fields)
	if err != nil {
		return err
	}
	// {"event":"x", ...fields}: the event key first, as the Python worker writes it.
	head := `{"event":"` + event + `"`
	if len(body) > 2 {
		head += ","
	}
	line := append([]byte(head), body[1:]...)
	line = append(line, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	_, err = w.out.Write(line)
	return err
}

// Start announces the worker: its pid, worker count and what decides its parallelism.
func (w *Writer) Start(pid, workers int, concurrency map[string]any) error {
	return w.emit("start", struct {
		PID         int            `json:"pid"`
		Workers     int            `json:"workers"`
		Concurrency map[string]any `json:"concurrency"`
	}{pid, workers, concurrency})
}

// Item reports one finished item.
func (w *Writer) Item(event ItemEvent) error { return w.emit("item", event) }

// Done closes the stream: every item was attempted.
func (w *Writer) Done(ok, failed int) error {
	return w.emit("done", struct {
		ItemsOK     int `json:"items_ok"`
		ItemsFailed int `json:"items_failed"`
	}{ok, failed})
}

// SampleEvent is the worker's own cgroup read from inside (kit.worker.protocol.SampleEvent): TSeconds on
// the worker's clock, PeakUsageBytes nil where the kernel keeps no watermark.
type SampleEvent struct {
	TSeconds          float64 `json:"t_seconds"`
	UsageBytes        int64   `json:"usage_bytes"`
	WorkingSetBytes   int64   `json:"working_set_bytes"`
	PeakUsageBytes    *int64  `json:"peak_usage_bytes"`
	CPUSeconds        float64 `json:"cpu_seconds"`
	ThrottledSeconds  float64 `json:"throttled_seconds"`
	ThrottledPeriods  int64   `json:"throttled_periods"`
	OOMKills          int64   `json:"oom_kills"`
	SamplerCPUSeconds float64 `json:"sampler_cpu_seconds"`
}

// Sample reports one look at the worker's own cgroup.
func (w *Writer) Sample(event SampleEvent) error { return w.emit("sample", event) }
