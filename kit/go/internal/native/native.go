// Package native is go-native's pipeline: the standard library's image/jpeg decodes and encodes,
// golang.org/x/image/draw resizes with an area kernel.
package native

import (
	"bytes"
	"image"
	"image/jpeg"
	"math"

	"golang.org/x/image/draw"

	"kit/go/internal/geometry"
	"kit/go/internal/stages"
	"kit/go/internal/worker"
)

// Quality is the output JPEG quality, as in the Python pipeline.
const Quality = 85

// AreaKernel is OpenCV's INTER_AREA expressed as an x/image/draw Kernel for a shrink factor s
// (source pixels per output pixel, s >= 1): each output pixel is the mean of the source pixels
// its footprint covers, a source pixel partly inside counting by the fraction inside.
//
// draw calls At(t) with t the distance between an output pixel's centre and a source pixel's
// centre in output pixels; the overlap of the source pixel [d-1/2, d+1/2] (d = t*s source
// pixels) with the footprint [-s/2, s/2] is clamp(s/2 + 1/2 - t*s, 0, 1). draw normalises the
// weights, so at an integer s (4K -> 1080p: s = 2) this is exactly the 2x2 block mean.
// draw.ApproxBiLinear samples only 4 source pixels and CatmullRom and BiLinear are not box
// shaped, so neither matches INTER_AREA; this kernel does.
func AreaKernel(s float64) *draw.Kernel {
	if s < 1 {
		s = 1
	}
	return &draw.Kernel{Support: 0.5 + 0.5/s, At: func(t float64) float64 {
		return math.Max(0, math.Min(1, s*(0.5-t)+0.5))
	}}
}

// Transform decodes, fits into 1920x1080 with the area kernel and encodes at quality 85, lapping
// s's decode and resize stages. Go's image/jpeg never reads EXIF, so orientation is ignored as
// in every strategy.
func Transform(data []byte, s *stages.Images) ([]byte, error) {
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, worker.Failed("undecodable JPEG")
	}
	s.Lap(&s.Decode)
	bounds := img.Bounds()
	width, height := bounds.Dx(), bounds.Dy()
	dw, dh := geometry.TargetSize(width, height)
	if dw != width || dh != height {
		dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
		// One kernel for both axes, built for the geometric scale: rounding the sides makes the
		// per-axis factors differ from it by under one output pixel's worth, a negligible change
		// of weights (and none at 4K -> 1080p).
		AreaKernel(1/geometry.Scale(width, height)).Scale(dst, dst.Bounds(), img, bounds, draw.Src, nil)
		img = dst
		s.Lap(&s.Resize)
	}
	var out bytes.Buffer
	if err := jpeg.Encode(&out, img, &jpeg.Options{Quality: Quality}); err != nil {
		return nil, worker.Failed("JPEG encoding failed")
	}
	return out.Bytes(), nil
}
