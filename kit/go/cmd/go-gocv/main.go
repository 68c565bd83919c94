// go-gocv: a pool of goroutines with OpenCV (through GoCV and cgo) doing imdecode, resize
// INTER_AREA and imencode quality 85, OpenCV's own threads pinned to 1. Speaks the worker
// contract of kit/worker/protocol.py.
package main

import (
	"bytes"
	"image"
	"os"

	"gocv.io/x/gocv"

	"kit/go/internal/cvthreads"
	"kit/go/internal/geometry"
	"kit/go/internal/jpeglib"
	"kit/go/internal/stages"
	"kit/go/internal/worker"
)

// decodeFlags: colour, EXIF orientation ignored, as cv2.IMREAD_COLOR | IMREAD_IGNORE_ORIENTATION.
const decodeFlags = gocv.IMReadColor | gocv.IMReadIgnoreOrientation

// quality is the output JPEG quality, as in the Python pipeline.
const quality = 85

// transform is the pipeline: the cgo calls run on the worker's locked OS thread, so s's stages
// count OpenCV's C++ work (decode, resize) where it happens.
func transform(data []byte, s *stages.Images) ([]byte, error) {
	img, err := gocv.IMDecode(data, decodeFlags)
	if err != nil || img.Empty() {
		img.Close()
		return nil, worker.Failed("undecodable JPEG")
	}
	defer img.Close()
	s.Lap(&s.Decode)
	width, height := img.Cols(), img.Rows()
	dw, dh := geometry.TargetSize(width, height)
	out := img
	if dw != width || dh != height {
		resized := gocv.NewMat()
		defer resized.Close()
		gocv.Resize(img, &resized, image.Pt(dw, dh), 0, 0, gocv.InterpolationArea)
		out = resized
		s.Lap(&s.Resize)
	}
	encoded, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, out, []int{gocv.IMWriteJpegQuality, quality})
	if err != nil {
		return nil, worker.Failed("JPEG encoding failed")
	}
	defer encoded.Close()
	return bytes.Clone(encoded.GetBytes()), nil // the buffer is C memory, freed by Close
}

func main() {
	os.Exit(worker.Main(worker.Program{
		Strategy: "go-gocv",
		Pipeline: transform,
		Setup: func() map[string]any {
			return map[string]any{"opencv_threads_per_worker": cvthreads.Set(1),
				"opencv": gocv.OpenCVVersion(), "gocv": gocv.Version(),
				"jpeg_library": jpeglib.Identify("/proc/self/maps")} // the libjpeg OpenCV loaded
		},
	}, os.Args[1:], os.Stdout, os.Stderr))
}
