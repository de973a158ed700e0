// Command alertagent-rulecheck is `promtool check rules` kept running: the operator starts it once and
// sends it rule files, instead of running promtool (a 48 MB program) for every change.
//
// It judges each file with the rule parser promtool itself calls (rulefmt.Parse of the Prometheus
// release this module pins, cmd/promtool/main.go checkRules) and answers what promtool would have:
// its exit code, and what it writes to stderr for the files it refuses ("  FAILED:" then one line per
// error, each naming the file), its duplicate-rule lint included (reported, never failing: promtool's
// --lint-fatal is off by default).
//
// Protocol, one JSON document a line on stdin and stdout:
//
//	out, once at start: {"version": "2.42.0", "go": "go1.19.8"}
//	                    (the Prometheus release of the rule parser, and the Go release it was built with:
//	                    templates, regexes and Unicode tables are Go's, so promtool's verdicts are only
//	                    matched word for word by a build of the same Go release as promtool's)
//	in:                 {"files": {"NAME": "TEXT", ...}}
//	out:                {"code": 0 or 1, "stderr": "..."}
//
// It exits when stdin closes (its operator has gone) or on a request it cannot decode.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
)

const prometheusModule = "github.com/prometheus/prometheus"

type request struct {
	Files map[string]string `json:"files"`
}

type response struct {
	Code   int    `json:"code"`
	Stderr string `json:"stderr"`
}

// check mirrors promtool's CheckRules over files judged in name order (promtool is given them sorted).
func check(files map[string]string) response {
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	var stderr strings.Builder
	code := 0
	for _, name := range names {
		groups, errs := rulefmt.Parse([]byte(files[name]))
		if errs != nil {
			code = 1
			stderr.WriteString("  FAILED:\n")
			for _, err := range errs {
				// rulefmt.ParseFile's wrapping: "FILE: error".
				fmt.Fprintf(&stderr, "%s: %s\n", name, err)
			}
			continue
		}
		if lint := duplicateRulesLint(groups.Groups); lint != "" {
			stderr.WriteString("  FAILED:\n" + lint + "\n")
		}
	}
	return response{Code: code, Stderr: stderr.String()}
}

// ruleKey is what promtool's lint calls a rule's identity: its alert or record name and its labels.
type ruleKey struct {
	metric string
	labels labels.Labels
}

func compareKeys(a, b ruleKey) int {
	if c := strings.Compare(a.metric, b.metric); c != 0 {
		return c
	}
	return labels.Compare(a.labels, b.labels)
}

// duplicateRulesLint is promtool's "duplicate-rules" lint message for a file's groups ("" when no two
// rules share a name and labels): each duplicated identity once, in sorted order.
func duplicateRulesLint(groups []rulefmt.RuleGroup) string {
	var keys []ruleKey
	for _, group := range groups {
		for _, rule := range group.Rules {
			metric := rule.Alert.Value
			if metric == "" {
				metric = rule.Record.Value
			}
			keys = append(keys, ruleKey{metric: metric, labels: labels.FromMap(rule.Labels)})
		}
	}
	sort.SliceStable(keys, func(i, j int) bool { return compareKeys(keys[i], keys[j]) < 0 })
	var duplicates []ruleKey
	for i := 1; i < len(keys); i++ {
		if compareKeys(keys[i-1], keys[i]) == 0 &&
			(len(duplicates) == 0 || compareKeys(keys[i-1], duplicates[len(duplicates)-1]) != 0) {
			duplicates = append(duplicates, keys[i])
		}
	}
	if len(duplicates) == 0 {
		return ""
	}
	var message strings.Builder
	fmt.Fprintf(&message, "lint error %d duplicate rule(s) found.\n", len(duplicates))
	for _, key := range duplicates {
		fmt.Fprintf(&message, "Metric: %s\nLabel(s):\n", key.metric)
		key.labels.Range(func(label labels.Label) {
			fmt.Fprintf(&message, "\t%s: %s\n", label.Name, label.Value)
		})
	}
	message.WriteString("Might cause inconsistency while recording expressions")
	return message.String()
}

// version is the Prometheus release of the linked rule parser: module v0.X.Y is release 2.X.Y.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, dep := range info.Deps {
		if dep.Path == prometheusModule {
			if strings.HasPrefix(dep.Version, "v0.") {
				return "2." + strings.TrimPrefix(dep.Version, "v0.")
			}
			return strings.TrimPrefix(dep.Version, "v")
		}
	}
	return ""
}

func main() {
	out := json.NewEncoder(os.Stdout)
	if err := out.Encode(map[string]string{"version": version(), "go": runtime.Version()}); err != nil {
		os.Exit(1)
	}
	in := json.NewDecoder(bufio.NewReaderSize(os.Stdin, 1<<20))
	for {
		var req request
		if err := in.Decode(&req); err != nil {
			return
		}
		if err := out.Encode(check(req.Files)); err != nil {
			return
		}
		if len(req.Files) > 50 {
			debug.FreeOSMemory() // a burst's check grew the heap: give it back while the operator idles
		}
	}
}
