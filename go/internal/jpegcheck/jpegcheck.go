// Package jpegcheck tells whether bytes are a complete JPEG, as kit/workloads/jpeg_check.py does,
// with the same reasons, so a truncated file fails by name in every strategy alike.
//
// Decoders (libjpeg in OpenCV, and Go's image/jpeg for some truncations) can turn a truncated
// file into a partly grey image without an error, so the marker structure is walked here.
// Bytes after the end-of-image marker are allowed; an end-of-image marker inside an APPn
// segment (an EXIF thumbnail) does not count.
package jpegcheck

import "fmt"

// Problem returns why data is not a complete JPEG, or "" when it is.
func Problem(data []byte) string {
	size := len(data)
	if size == 0 {
		return "empty file"
	}
	if size < 2 || data[0] != 0xFF || data[1] != 0xD8 {
		return "not a JPEG (no start-of-image marker)"
	}
	pos, frames := 2, 0
	for {
		for pos < size && data[pos] == 0xFF && pos+1 < size && data[pos+1] == 0xFF {
			pos++ // fill bytes before a marker
		}
		if pos+2 > size {
			return "truncated JPEG (ends inside the headers)"
		}
		if data[pos] != 0xFF {
			return fmt.Sprintf("corrupt JPEG (no marker at byte %d)", pos)
		}
		marker := data[pos+1]
		if marker == 0xD9 {
			if frames > 0 {
				return ""
			}
			return "corrupt JPEG (no image data before end-of-image)"
		}
		if standalone(marker) {
			pos += 2
			continue
		}
		if pos+4 > size {
			return "truncated JPEG (ends inside a segment header)"
		}
		length := int(data[pos+2])<<8 | int(data[pos+3])
		end := pos + 2 + length
		if length < 2 || end > size {
			return "truncated JPEG (ends inside a segment)"
		}
		if marker != 0xDA { // not start-of-scan: skip the whole segment
			pos = end
			continue
		}
		frames++
		next := nextMarker(data, end)
		if next < 0 {
			return "truncated JPEG (image data ends without an end-of-image marker)"
		}
		pos = next
	}
}

// standalone markers have no length field: TEM and RST0-RST7.
func standalone(marker byte) bool {
	return marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)
}

// nextMarker finds, from `from` on, the first run of 0xFF bytes followed by a byte that is not
// stuffing (0x00) or a restart marker, and returns the index of the run's last 0xFF (-1: none).
// It is the Python check's regex rb"\xff+[^\x00\xd0-\xd7\xff]".
func nextMarker(data []byte, from int) int {
	size := len(data)
	for i := from; i < size; i++ {
		if data[i] != 0xFF {
			continue
		}
		j := i
		for j < size && data[j] == 0xFF {
			j++
		}
		if j == size {
			return -1
		}
		if b := data[j]; b != 0x00 && (b < 0xD0 || b > 0xD7) {
			return j - 1
		}
		i = j // entropy-coded data goes on after the stuffing byte or restart marker
	}
	return -1
}
