package contract

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadManifestJoinsPathsInOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "manifest.json")
	body := `{"items": [{"name": "a", "input": "x.jpg", "output": "a.jpg"}, {"name": "b", "input": "x.jpg", "output": "b.jpg", "problem": "empty file"}]}`
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	items, err := ReadManifest(path, "/in", "/out")
	if err != nil {
		t.Fatal(err)
	}
	want := []Item{{0, "a", "/in/x.jpg", "/out/a.jpg", "", ""}, {1, "b", "/in/x.jpg", "/out/b.jpg", "empty file", ""}}
	if len(items) != 2 || items[0] != want[0] || items[1] != want[1] {
		t.Fatalf("got %+v", items)
	}
}

func TestTaskItemsHaveNoInputAndKeepTheirParameters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "manifest.json")
	body := `{"items": [{"name": "task-000000", "input": "", "output": "task-000000.txt", "task": {"iterations": 2500000}}]}`
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	items, err := ReadManifest(path, "/in", "/out")
	if err != nil {
		t.Fatal(err)
	}
	want := Item{0, "task-000000", "", "/out/task-000000.txt", "", `{"iterations": 2500000}`}
	if len(items) != 1 || items[0] != want {
		t.Fatalf("got %+v", items)
	}
}

func TestEventsAreOneJSONObjectPerLineAsKitProtocolParsesThem(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	_ = w.Start(12, 4, map[string]any{"gomaxprocs": 2})
	_ = w.Item(ItemEvent{Index: 0, Name: "a.jpg", OK: true, Start: 0.5, End: 0.75})
	_ = w.Item(ItemEvent{Index: 1, Name: "b.jpg", Start: 0.5, End: 0.6, Reason: "truncated JPEG"})
	_ = w.Done(1, 1)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("lines: %q", lines)
	}
	if !strings.HasPrefix(lines[1], `{"event":"item",`) {
		t.Fatalf("event key first: %s", lines[1])
	}
	var ok, failed map[string]any
	_ = json.Unmarshal([]byte(lines[1]), &ok)
	_ = json.Unmarshal([]byte(lines[2]), &failed)
	if _, has := ok["reason"]; has {
		t.Fatalf("a successful item has no reason: %s", lines[1])
	}
	if failed["reason"] != "truncated JPEG" || failed["ok"] != false {
		t.Fatalf("failed item: %s", lines[2])
	}
	if lines[3] != `{"event":"done","items_ok":1,"items_failed":1}` {
		t.Fatalf("done: %s", lines[3])
	}
}
