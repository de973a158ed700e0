// Package sigv4 stands in for github.com/prometheus/common/sigv4 (go.mod's replace) in the rule
// checker. Prometheus's config package names its SigV4Config type for remote write; the rule parser
// never reaches it, and the real package brings the AWS SDK, whose start-up alone (endpoint tables
// built at init) holds ~4 MiB of the checker's memory for the operator's lifetime.
package sigv4

// SigV4Config is the type prometheus/config refers to; no rule file can set it.
type SigV4Config struct{}
