package worker

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"kit/go/internal/contract"
	"kit/go/internal/stages"
)

func upper(data []byte, _ *stages.Images) ([]byte, error) {
	if len(data) == 0 {
		return nil, Failed("empty file")
	}
	return bytes.ToUpper(data), nil
}

func TestMainRunsEveryItemAndCountsFailuresByName(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	_ = os.Mkdir(in, 0o755)
	_ = os.WriteFile(filepath.Join(in, "a.txt"), []byte("abc"), 0o644)
	_ = os.WriteFile(filepath.Join(in, "b.txt"), nil, 0o644)
	manifest := filepath.Join(dir, "manifest.json")
	_ = os.WriteFile(manifest, []byte(`{"items": [{"name": "a", "input": "a.txt", "output": "a.out"},
		{"name": "b", "input": "b.txt", "output": "b.out"}, {"name": "c", "input": "gone.txt", "output": "c.out"}]}`), 0o644)
	var stdout, stderr bytes.Buffer
	code := Main(Program{Strategy: "go-test", Pipeline: upper}, []string{"--strategy", "go-test",
		"--workload", "images", "--workers", "2", "--start-method", "fork", "--manifest", manifest,
		"--input-root", in, "--output-dir", out}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	reasons := map[string]string{}
	timed := map[string]any{}
	var done map[string]any
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var event map[string]any
		if err := json.Unmarshal([]byte(line), &event); err != nil {
			t.Fatalf("not JSON: %s", line)
		}
		switch event["event"] {
		case "item":
			reason, _ := event["reason"].(string)
			reasons[event["name"].(string)] = reason
			if stages, has := event["stages"]; has {
				timed[event["name"].(string)] = stages
			}
		case "done":
			done = event
		}
	}
	if reasons["a"] != "" || reasons["b"] != "empty file" || reasons["c"] != "unreadable: No such file or directory" {
		t.Fatalf("reasons %v", reasons)
	}
	if done["items_ok"] != 1.0 || done["items_failed"] != 2.0 {
		t.Fatalf("done %v", done)
	}
	// Issue 23: the ok item carries its five stages (this pipeline neither decodes nor resizes:
	// exactly 0.0 there), the failed ones none.
	stagesOf, _ := timed["a"].(map[string]any)
	if len(timed) != 1 || len(stagesOf) != 5 || stagesOf["decode"] != 0.0 || stagesOf["resize"] != 0.0 {
		t.Fatalf("stages %v", timed)
	}
	for _, key := range []string{"read", "encode", "write"} {
		if seconds, ok := stagesOf[key].(float64); !ok || seconds < 0 {
			t.Fatalf("stage %s: %v", key, stagesOf[key])
		}
	}
	if !strings.Contains(stdout.String(), `"decode":0.0,"resize":0.0`) {
		t.Fatalf("zero stages not written as floats: %s", stdout.String())
	}
	if got, _ := os.ReadFile(filepath.Join(out, "a.out")); string(got) != "ABC" {
		t.Fatalf("output %q", got)
	}
}

func TestInvalidArgumentsExit2(t *testing.T) {
	for _, args := range [][]string{{"--strategy", "go-other"}, {"--workers", "0"}, {"--workload", "pi"}, {},
		{"--calibrate-pi", "0.5"}} { // a program without Tasks takes neither task workloads nor calibration
		var stdout, stderr bytes.Buffer
		if code := Main(Program{Strategy: "go-test", Pipeline: upper}, args, &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
		if stdout.Len() != 0 {
			t.Errorf("%v: printed events %q", args, stdout.String())
		}
	}
}

func TestKnownBadItemsAreRejectedWithTheControllersReasonAndNeverReachThePipeline(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	_ = os.Mkdir(in, 0o755)
	_ = os.WriteFile(filepath.Join(in, "a.txt"), []byte("abc"), 0o644)
	_ = os.WriteFile(filepath.Join(in, "bomb.txt"), []byte("would be decoded"), 0o644)
	manifest := filepath.Join(dir, "manifest.json")
	_ = os.WriteFile(manifest, []byte(`{"items": [{"name": "a", "input": "a.txt", "output": "a.out"},
		{"name": "bomb", "input": "bomb.txt", "output": "bomb.out", "problem": "too large: 60000x60000"}]}`), 0o644)
	seen := map[string]bool{}
	pipeline := func(data []byte, s *stages.Images) ([]byte, error) {
		seen[string(data)] = true
		return upper(data, s)
	}
	var stdout, stderr bytes.Buffer
	code := Main(Program{Strategy: "go-test", Pipeline: pipeline}, []string{"--workers", "1", "--manifest", manifest,
		"--input-root", in, "--output-dir", out}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if seen["would be decoded"] || !seen["abc"] {
		t.Fatalf("pipeline saw %v", seen)
	}
	var rejected map[string]any
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var event map[string]any
		_ = json.Unmarshal([]byte(line), &event)
		if event["name"] == "bomb" {
			rejected = event
		}
		if event["name"] == "a" && event["rejected"] != nil {
			t.Fatalf("a good item marked rejected: %s", line)
		}
	}
	if rejected["ok"] != false || rejected["rejected"] != true || rejected["reason"] != "too large: 60000x60000" {
		t.Fatalf("bomb event %v", rejected)
	}
	if _, err := os.Stat(filepath.Join(out, "bomb.out")); err == nil {
		t.Fatal("a rejected item wrote an output")
	}
}

func events(t *testing.T, stdout string) (map[string]map[string]any, map[string]any) {
	t.Helper()
	items := map[string]map[string]any{}
	var start map[string]any
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var event map[string]any
		if err := json.Unmarshal([]byte(line), &event); err != nil {
			t.Fatalf("not JSON: %s", line)
		}
		switch event["event"] {
		case "item":
			items[event["name"].(string)] = event
		case "start":
			start = event
		}
	}
	return items, start
}

func runTasks(t *testing.T, workload, manifestBody string) (string, map[string]map[string]any, map[string]any) {
	t.Helper()
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	manifest := filepath.Join(dir, "manifest.json")
	_ = os.WriteFile(manifest, []byte(manifestBody), 0o644)
	var stdout, stderr bytes.Buffer
	code := Main(Program{Strategy: "go-test", Pipeline: upper, Tasks: true,
		Setup: func() map[string]any { return map[string]any{"decoder": "image only"} }},
		[]string{"--workload", workload, "--workers", "2", "--manifest", manifest, "--input-root", dir,
			"--output-dir", out}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	items, start := events(t, stdout.String())
	return out, items, start
}

func TestTaskWorkloadsWriteTheirResultAsTextPerTask(t *testing.T) {
	out, items, start := runTasks(t, "pi", `{"items": [
		{"name": "task-000000", "input": "", "output": "task-000000.txt", "task": {"iterations": 1000}},
		{"name": "task-000001", "input": "", "output": "task-000001.txt", "task": {"iterations": 0}},
		{"name": "task-000002", "input": "", "output": "task-000002.txt"}]}`)
	if got, _ := os.ReadFile(filepath.Join(out, "task-000000.txt")); string(got) != "3.141592653589794\n" {
		t.Fatalf("pi output %q", got)
	}
	if items["task-000000"]["ok"] != true || items["task-000001"]["ok"] != false || items["task-000002"]["ok"] != false {
		t.Fatalf("items %v", items)
	}
	for name, item := range items {
		if _, has := item["stages"]; has {
			t.Fatalf("pi item %s has stages: %v", name, item)
		}
	}
	if _, has := start["concurrency"].(map[string]any)["decoder"]; has {
		t.Fatal("the image pipeline's setup ran for a task workload")
	}
	out, _, _ = runTasks(t, "count", `{"items": [{"name": "c", "input": "", "output": "c.txt", "task": {"count_to": 777}}]}`)
	if got, _ := os.ReadFile(filepath.Join(out, "c.txt")); string(got) != "777\n" {
		t.Fatalf("count output %q", got)
	}
}

func TestPayloadSessionIsMadeOnceAndRecordedInTheStartEvent(t *testing.T) {
	out, items, start := runTasks(t, "payload", `{"items": [
		{"name": "a", "input": "", "output": "a.txt", "task": {"size_bytes": 4096}},
		{"name": "b", "input": "", "output": "b.txt", "task": {"size_bytes": 4096}}]}`)
	for _, name := range []string{"a", "b"} {
		if got, _ := os.ReadFile(filepath.Join(out, name+".txt")); string(got) != "4096 4fc82b26aecb47d2\n" || items[name]["ok"] != true {
			t.Fatalf("%s: %q %v", name, got, items[name])
		}
		timed, _ := items[name]["stages"].(map[string]any)
		if len(timed) != 3 || timed["serialize"] == nil || timed["transfer"] == nil || timed["deserialize"] == nil {
			t.Fatalf("%s: payload stages %v", name, items[name]["stages"])
		}
	}
	session := start["concurrency"].(map[string]any)["workload_session"].(map[string]any)
	if session["payload_bytes"] != 4096.0 || session["build_seconds"] == nil {
		t.Fatalf("session %v", session)
	}
}

func TestCalibratePiPrintsOneJSONObject(t *testing.T) {
	if testing.Short() {
		t.Skip("times the loop for about a second")
	}
	var stdout, stderr bytes.Buffer
	code := Main(Program{Strategy: "go-test", Tasks: true}, []string{"--calibrate-pi", "0.05"}, &stdout, &stderr)
	var got map[string]any
	if code != 0 || json.Unmarshal(stdout.Bytes(), &got) != nil {
		t.Fatalf("exit %d: %q %s", code, stdout.String(), stderr.String())
	}
	if got["iterations"].(float64) < 1000 || got["target_seconds"] != 0.05 || got["seconds_per_iteration"].(float64) <= 0 {
		t.Fatalf("calibration %v", got)
	}
}

// Issue 14: an output appears whole under its name or not at all, and no temporary file stays.
func TestWriteOutputRenamesACompleteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.jpg")
	if err := writeOutput(path, []byte("complete")); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if data, _ := os.ReadFile(path); string(data) != "complete" || len(entries) != 1 {
		t.Fatalf("got %q and %d entries", data, len(entries))
	}
	if err := writeOutput(filepath.Join(dir, "missing", "b.jpg"), []byte("x")); err == nil {
		t.Fatal("writing into a missing directory succeeded")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("%d entries after a failed write", len(entries))
	}
}

func TestOutputDigestsOnlyWhenAskedAndOnlyForFinishedItems(t *testing.T) {
	manifest := `{"items": [{"name": "c", "input": "", "output": "c.txt", "task": {"count_to": 777}},
		{"name": "bad", "input": "", "output": "bad.txt"}]}`
	_, items, _ := runTasks(t, "count", manifest)
	if _, has := items["c"]["sha256"]; has {
		t.Fatalf("a digest nobody asked for: %v", items["c"])
	}
	t.Setenv(contract.OutputDigestsEnv, "sha256")
	_, items, _ = runTasks(t, "count", manifest)
	sum := sha256.Sum256([]byte("777\n"))
	if items["c"]["sha256"] != hex.EncodeToString(sum[:]) {
		t.Fatalf("digest %v, want the sha256 of the output file", items["c"]["sha256"])
	}
	if _, has := items["bad"]["sha256"]; has {
		t.Fatalf("a failed item has a digest: %v", items["bad"])
	}
}
