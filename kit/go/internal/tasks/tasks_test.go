package tasks

import (
	"math"
	"runtime"
	"strings"
	"testing"
)

func TestPiConvergesAsVietesProduct(t *testing.T) {
	if got := Pi(1); math.Abs(got-2*math.Sqrt(2)) > 1e-15 { // one term: 2 / (sqrt(2)/2)
		t.Fatalf("Pi(1) = %v", got)
	}
	if got := Pi(1_000); math.Abs(got-math.Pi) > 1e-12 {
		t.Fatalf("Pi(1000) = %v", got)
	}
	if math.Abs(Pi(5)-math.Pi) < 1e-4 { // too few terms stay visibly short of pi
		t.Fatal("Pi(5) should not have converged")
	}
}

func TestResultsAreTheTextPythonWrites(t *testing.T) {
	// repr(calc_pi(1000)) in Python is 3.141592653589794; repr(3.0) is 3.0
	pi, _ := Lookup("pi")
	if text, timed, err := pi.Run(Params{Iterations: 1000}, nil); err != nil || text != "3.141592653589794" || timed != nil {
		t.Fatalf("pi: %q %v %v", text, timed, err)
	}
	if FormatFloat(3) != "3.0" || FormatFloat(2.5) != "2.5" {
		t.Fatalf("FormatFloat: %s %s", FormatFloat(3), FormatFloat(2.5))
	}
	count, _ := Lookup("count")
	if text, timed, _ := count.Run(Params{CountTo: 12345}, nil); text != "12345" || timed != nil {
		t.Fatalf("count: %q %v", text, timed)
	}
	if _, _, err := pi.Run(Params{Iterations: 0}, nil); err == nil {
		t.Fatal("pi with 0 iterations must fail the item")
	}
}

func TestPayloadIsBuiltOnceAndSharedByPointer(t *testing.T) {
	runtime.LockOSThread() // as the pool's workers: the thread CPU clock needs one thread
	defer runtime.UnlockOSThread()
	payload, _ := Lookup("payload")
	session, err := payload.Session(Params{SizeBytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	shared := session.Argument.(*string)
	if *shared != strings.Repeat("1", 1000) || session.Notes["payload_bytes"] != int64(1000) {
		t.Fatalf("session %v", session.Notes)
	}
	for range 3 {
		// the same text as kit/worker/workloads/payload.py's expected_result(1000)
		text, timed, err := payload.Run(Params{SizeBytes: 1000}, session.Argument)
		if err != nil || text != "1000 4fc82b26aecb47d2" {
			t.Fatalf("payload: %q %v", text, err)
		}
		// The three stages are there (their size, about nothing, is no test's business).
		if timed == nil || timed.Serialize < 0 || timed.Transfer < 0 || timed.Deserialize < 0 {
			t.Fatalf("payload stages %+v", timed)
		}
	}
	if _, timed, err := payload.Run(Params{}, nil); err == nil || timed != nil {
		t.Fatal("a payload task without its session must fail")
	}
	if _, ok := Lookup("io"); ok {
		t.Fatal("io is not a Go task workload")
	}
}

// A cut payload is told by its length (the task's text has both); the digest tells altered bytes.
func TestDigestTellsAnAlteredPayloadFromTheRightOne(t *testing.T) {
	right := strings.Repeat("1", 3*DigestStride+5)
	altered := []byte(right)
	altered[2*DigestStride] = '2' // a sampled position
	last := right[:len(right)-1] + "2"
	for name, other := range map[string]string{"altered": string(altered), "last": last} {
		if Digest(&other) == Digest(&right) {
			t.Errorf("%s payload has the right one's digest", name)
		}
	}
	empty := ""
	if Digest(&empty) != "e3b0c44298fc1c14" { // sha256 of nothing, as Python's for ""
		t.Errorf("empty: %s", Digest(&empty))
	}
}

func TestParseParams(t *testing.T) {
	if p, err := ParseParams(`{"iterations": 2500000}`); err != nil || p.Iterations != 2_500_000 {
		t.Fatalf("%+v %v", p, err)
	}
	for _, raw := range []string{"", "{", `{"iterations": "many"}`} {
		if _, err := ParseParams(raw); err == nil {
			t.Errorf("%q parsed", raw)
		}
	}
}

func TestCalibrationScalesTheProbeToTheTarget(t *testing.T) {
	if testing.Short() {
		t.Skip("times the loop for about a second")
	}
	c := Calibrate(0.05)
	if c.Iterations < 1000 || c.Iterations%1000 != 0 || c.ProbeSeconds < ProbeSeconds/2 {
		t.Fatalf("%+v", c)
	}
	// the chosen count is the probe's per-iteration speed times the target (rounding aside)
	want := 0.05 / c.SecondsPerIteration
	if math.Abs(float64(c.Iterations)-want) > 1000+want*0.01 {
		t.Fatalf("iterations %d, want about %.0f", c.Iterations, want)
	}
	// CPU time, never more than the wall time it took (a little rounding aside)
	if c.Clock != Clock || c.CPUShare <= 0 || c.CPUShare > 1.02 {
		t.Fatalf("clock %q, cpu share %v", c.Clock, c.CPUShare)
	}
}

func TestProbesReadThisThreadsCPUTime(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu, wall := timed(2_000_000)
	if cpu <= 0 || cpu > wall*1.02+0.001 {
		t.Fatalf("cpu %v s over wall %v s", cpu, wall)
	}
}
