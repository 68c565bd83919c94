// Package cvthreads pins OpenCV's own thread pool, which GoCV v0.31.0 does not expose
// (cv::setNumThreads arrived in later GoCV versions, which need a newer OpenCV than Debian's 4.6).
//
// One OpenCV thread per worker, as in every Python strategy: otherwise each goroutine's resize
// fans out over every core and workers x OpenCV threads oversubscribe the CPU.
package cvthreads

/*
#cgo CXXFLAGS: --std=c++11
#cgo CPPFLAGS: -I/usr/include/opencv4
#cgo LDFLAGS: -lopencv_core
#include "cvthreads.h"
*/
import "C"

// Set calls cv::setNumThreads(n) and returns cv::getNumThreads() as OpenCV then reports it.
func Set(n int) int {
	C.kit_cv_set_num_threads(C.int(n))
	return int(C.kit_cv_get_num_threads())
}
