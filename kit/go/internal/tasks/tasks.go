// Package tasks holds the task workloads of kit/worker/workloads/ in Go: pi, count and payload, with the
// same task definitions and the same result text, so the controller verifies a Go task exactly
// as it verifies a Python one (kit/worker/workloads/__init__.py task_check).
package tasks

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"kit/go/internal/stages"
)

// Params is a task's parameters from the manifest's `task` object.
type Params struct {
	Iterations int64 `json:"iterations"` // pi: Viète terms
	CountTo    int64 `json:"count_to"`   // count: the counter's target
	SizeBytes  int64 `json:"size_bytes"` // payload: characters of the string
}

// ParseParams reads a task object; a missing or malformed one is an error for that item.
func ParseParams(raw string) (Params, error) {
	var p Params
	if raw == "" {
		return p, fmt.Errorf("no task parameters in the manifest")
	}
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		return p, fmt.Errorf("task parameters %s: %v", raw, err)
	}
	return p, nil
}

// Session is what the worker makes once before the first task and hands to every task
// (payload's string), with what it cost, recorded in the start event as workload_session.
type Session struct {
	Argument any
	Notes    map[string]any
}

// Workload is one task workload: its session and one task's result as text, with the task's
// stages where the workload has some (payload; nil for pi and count).
type Workload struct {
	Name    string
	Session func(first Params) (Session, error)
	Run     func(p Params, argument any) (string, *stages.Payload, error)
}

// Names are the task workloads the Go workers run (io is Python's only).
var Names = []string{"pi", "count", "payload"}

// Lookup returns the workload called name.
func Lookup(name string) (Workload, bool) {
	switch name {
	case "pi":
		return Workload{Name: name, Session: noSession, Run: func(p Params, _ any) (string, *stages.Payload, error) {
			if p.Iterations < 1 {
				return "", nil, fmt.Errorf("iterations %d: must be at least 1", p.Iterations)
			}
			return FormatFloat(Pi(p.Iterations)), nil, nil
		}}, true
	case "count":
		return Workload{Name: name, Session: noSession, Run: func(p Params, _ any) (string, *stages.Payload, error) {
			return strconv.FormatInt(Count(p.CountTo), 10), nil, nil
		}}, true
	case "payload":
		return Workload{Name: name, Session: payloadSession, Run: runPayload}, true
	}
	return Workload{}, false
}

// runPayload receives the session's string, timing each stage of the handover on this thread
// (4 clock reads), and returns its length and digest.
func runPayload(_ Params, argument any) (string, *stages.Payload, error) {
	var timed stages.Payload
	clock := stages.Start()
	clock.Lap(&timed.Serialize) // nothing to serialize: the argument is the session's *string itself
	handed := handOver(argument)
	clock.Lap(&timed.Transfer)
	payload, ok := handed.(*string)
	clock.Lap(&timed.Deserialize) // a type assertion: the pointer is the string, nothing to parse
	if !ok || payload == nil {
		return "", nil, fmt.Errorf("no payload: the worker's session did not run")
	}
	return strconv.Itoa(Length(payload)) + " " + Digest(payload), &timed, nil
}

// handOver is the transfer: the argument passed to a function, as a task receives it. Kept out
// of line so that the call is made and timed rather than compiled away.
//
//go:noinline
func handOver(argument any) any { return argument }

func noSession(Params) (Session, error) { return Session{}, nil }

// payloadSession builds seed 001's string once; every task gets a pointer to the same bytes, so
// nothing is copied (seed 001's "Go mp reference"; a Go string passed by value would copy only
// its 16-byte header, never the bytes, either).
func payloadSession(first Params) (Session, error) {
	if first.SizeBytes < 0 {
		return Session{}, fmt.Errorf("size_bytes %d: must not be negative", first.SizeBytes)
	}
	started := time.Now()
	payload := strings.Repeat("1", int(first.SizeBytes))
	built := time.Since(started).Seconds()
	return Session{Argument: &payload, Notes: map[string]any{"payload_bytes": first.SizeBytes,
		"build_seconds": float64(int64(built*1e4+0.5)) / 1e4, "passed_as": "*string (shared, not copied)"}}, nil
}

// Pi is seed 001's calculatePi, term for term (kit/worker/workloads/pi.py calc_pi): the loop is the work.
func Pi(iterations int64) float64 {
	numerator := 0.0
	pi := 1.0
	for n := int64(0); n < iterations; n++ {
		numerator = math.Sqrt(2.0 + numerator)
		pi = pi * (numerator / 2.0)
	}
	return (1.0 / pi) * 2.0
}

// Count counts from 0 to countTo one step at a time (kit/worker/workloads/count.py); Go's compiler keeps
// the loop (it has no closed-form rewrite of induction variables), about 1 ns a step.
func Count(countTo int64) int64 {
	counter := int64(0)
	for counter < countTo {
		counter++
	}
	return counter
}

// Length is the task of seed 001's serialization test: the string's length in characters
// (the payload is ASCII, so bytes and characters agree, as Python's len counts them).
func Length(payload *string) int { return len(*payload) }

// DigestStride is the sampling step of Digest (kit/worker/workloads/payload.py DIGEST_STRIDE).
const DigestStride = 4096

// Digest is the payload task's check of what it received, as kit/worker/workloads/payload.py computes it:
// the first 16 hex digits of the sha256 of every DigestStride-th byte and the last one. Sampled,
// so that it costs microseconds: a full digest would cost more than Go's whole task and measure
// hashing instead of handing the string over. The payload is ASCII: bytes are characters.
func Digest(payload *string) string {
	s := *payload
	sample := make([]byte, 0, len(s)/DigestStride+2)
	for i := 0; i < len(s); i += DigestStride {
		sample = append(sample, s[i])
	}
	if len(s) > 0 {
		sample = append(sample, s[len(s)-1])
	}
	sum := sha256.Sum256(sample)
	return hex.EncodeToString(sum[:])[:16]
}

// FormatFloat writes a float as Python's repr does for the values pi takes: the shortest text
// that reads back as the same float.
func FormatFloat(value float64) string {
	text := strconv.FormatFloat(value, 'g', -1, 64)
	if !strings.ContainsAny(text, ".eEn") { // "3" -> "3.0", as repr(3.0)
		text += ".0"
	}
	return text
}
