// Package geometry is the images workload's output size, exactly as kit/worker/workloads/images.py.
package geometry

import "math"

// MaxWidth and MaxHeight bound every output (product.md section 4).
const (
	MaxWidth  = 1920
	MaxHeight = 1080
)

// Scale is min(1920/w, 1080/h, 1): images are fitted inside 1920x1080, never upscaled.
func Scale(width, height int) float64 {
	return math.Min(math.Min(float64(MaxWidth)/float64(width), float64(MaxHeight)/float64(height)), 1)
}

// TargetSize applies Scale to both sides, rounding half up, at least 1 pixel a side.
func TargetSize(width, height int) (int, int) {
	scale := Scale(width, height)
	side := func(x int) int { return max(1, int(math.Floor(float64(x)*scale+0.5))) }
	return side(width), side(height)
}
