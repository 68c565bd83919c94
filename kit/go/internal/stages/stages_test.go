package stages

import (
	"encoding/json"
	"runtime"
	"testing"
	"time"
)

func spin(d time.Duration) {
	for start := time.Now(); time.Since(start) < d; {
	}
}

func TestThreadCPUCountsThisThreadsWorkAndNotItsSleep(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var busy, idle Seconds
	clock := Start()
	spin(20 * time.Millisecond)
	clock.Lap(&busy)
	time.Sleep(20 * time.Millisecond)
	clock.Lap(&idle)
	// Loose bounds only: the machine may be busy (tests never assert on timings), but a spinning
	// thread always gains CPU and a sleeping one gains far less than it spun.
	if busy <= 0 || idle < 0 || idle >= busy {
		t.Fatalf("busy %v s, idle %v s", busy, idle)
	}
}

func TestImagesEmitsFiveFloatKeysAndLapsAddUp(t *testing.T) {
	s := StartImages()
	s.Lap(&s.Read)
	spin(time.Millisecond)
	s.Lap(&s.Decode)
	s.Lap(&s.Encode)
	s.Lap(&s.Write)
	if s.Decode <= 0 || s.Resize != 0 {
		t.Fatalf("stages %+v", s)
	}
	body, err := json.Marshal(&Images{Decode: 0.25})
	if err != nil || string(body) != `{"read":0.0,"decode":0.25,"resize":0.0,"encode":0.0,"write":0.0}` {
		t.Fatalf("%s %v", body, err)
	}
}

func TestSecondsAreAlwaysJSONFloats(t *testing.T) {
	for value, want := range map[Seconds]string{0: "0.0", 2: "2.0", 0.001234: "0.001234", 1e-7: "1e-07"} {
		body, _ := json.Marshal(value)
		var back float64
		if string(body) != want || json.Unmarshal(body, &back) != nil || back != float64(value) {
			t.Errorf("%v: %s", float64(value), body)
		}
	}
}

func TestPayloadKeys(t *testing.T) {
	body, _ := json.Marshal(Payload{})
	if string(body) != `{"serialize":0.0,"transfer":0.0,"deserialize":0.0}` {
		t.Fatal(string(body))
	}
}

// itemCPUSeconds is the smallest CPU an images item takes: a 4K item costs 60-140 ms of CPU
// (issue 23), a 1080p one about a quarter of that; the timing's own cost is judged against it.
const itemCPUSeconds = 0.015

// BenchmarkClockRead is one read of the thread CPU clock. Clock reads per item: 6 for an image
// (internal/stages.Images), 4 for a payload task; `go test -bench ClockRead ./internal/stages`
// prints the cost and its share of a small (1080p, 15 ms) item as pct-of-1080p-item.
func BenchmarkClockRead(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	sum := 0.0
	for b.Loop() {
		sum += ThreadCPUSeconds()
	}
	if sum == 0 {
		b.Fatal("the thread CPU clock read 0")
	}
	perRead := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(6*perRead/itemCPUSeconds*100, "pct-of-1080p-item")
}

// BenchmarkImageItemStages is the whole timing of one image item, all six laps.
func BenchmarkImageItemStages(b *testing.B) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for b.Loop() {
		s := StartImages()
		s.Lap(&s.Read)
		s.Lap(&s.Decode)
		s.Lap(&s.Resize)
		s.Lap(&s.Encode)
		s.Lap(&s.Write)
	}
}
