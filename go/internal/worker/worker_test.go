package worker

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func upper(data []byte) ([]byte, error) {
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
	if got, _ := os.ReadFile(filepath.Join(out, "a.out")); string(got) != "ABC" {
		t.Fatalf("output %q", got)
	}
}

func TestInvalidArgumentsExit2(t *testing.T) {
	for _, args := range [][]string{{"--strategy", "go-other"}, {"--workers", "0"}, {"--workload", "pi"}, {}} {
		var stdout, stderr bytes.Buffer
		if code := Main(Program{Strategy: "go-test", Pipeline: upper}, args, &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
		if stdout.Len() != 0 {
			t.Errorf("%v: printed events %q", args, stdout.String())
		}
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
