package worker

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kit/go/internal/cgroupstat"
)

func runSampled(t *testing.T, interval string) []map[string]any {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	_ = os.Mkdir(in, 0o755)
	_ = os.WriteFile(filepath.Join(in, "a.txt"), []byte("abc"), 0o644)
	manifest := filepath.Join(dir, "manifest.json")
	_ = os.WriteFile(manifest, []byte(`{"items": [{"name": "a", "input": "a.txt", "output": "a.out"}]}`), 0o644)
	var stdout, stderr bytes.Buffer
	code := Main(Program{Strategy: "go-test", Pipeline: upper}, []string{"--manifest", manifest,
		"--input-root", in, "--output-dir", filepath.Join(dir, "out"), "--sample-interval-ms", interval},
		&stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var lines []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var event map[string]any
		if err := json.Unmarshal([]byte(line), &event); err != nil {
			t.Fatalf("not JSON: %s", line)
		}
		lines = append(lines, event)
	}
	return lines
}

func TestSamplesOfTheOwnCgroupPrecedeDone(t *testing.T) {
	_, err := cgroupstat.FindOwn()
	lines := runSampled(t, "10")
	if lines[len(lines)-1]["event"] != "done" {
		t.Fatalf("done is not last: %v", lines[len(lines)-1])
	}
	var samples []map[string]any
	for _, event := range lines {
		if event["event"] == "sample" {
			samples = append(samples, event)
		}
	}
	if err != nil { // no cgroup visible to this process: nothing to sample, and nothing is made up
		if len(samples) != 0 {
			t.Fatalf("samples without a cgroup: %v", samples)
		}
		return
	}
	if len(samples) < 2 { // at least the first and the last
		t.Fatalf("samples %v", samples)
	}
	for _, key := range []string{"t_seconds", "usage_bytes", "working_set_bytes", "peak_usage_bytes", "cpu_seconds",
		"throttled_seconds", "throttled_periods", "oom_kills", "sampler_cpu_seconds"} {
		if _, ok := samples[0][key]; !ok {
			t.Fatalf("sample lacks %s: %v", key, samples[0])
		}
	}
	last := samples[len(samples)-1]
	if last["t_seconds"].(float64) < samples[0]["t_seconds"].(float64) || last["cpu_seconds"].(float64) <= 0 {
		t.Fatalf("first %v last %v", samples[0], last)
	}
}

func TestSampleIntervalZeroTurnsSamplingOff(t *testing.T) {
	for _, event := range runSampled(t, "0") {
		if event["event"] == "sample" {
			t.Fatalf("sampled with --sample-interval-ms 0: %v", event)
		}
	}
}

func TestSampleIntervalOutOfRangeExits2(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := Main(Program{Strategy: "go-test", Pipeline: upper}, []string{"--manifest", "m", "--input-root", "i",
		"--output-dir", "o", "--sample-interval-ms", "-1"}, &stdout, &stderr); code != 2 {
		t.Fatalf("exit %d", code)
	}
}
