// The stand-in for github.com/prometheus/common/sigv4: see sigv4.go.
module github.com/prometheus/common/sigv4

go 1.19
