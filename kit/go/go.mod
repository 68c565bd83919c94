module kit/go

go 1.25.0

require (
	gocv.io/x/gocv v0.31.0
	golang.org/x/image v0.33.0
)
