// Command kstatus prints the kstatus status (sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute) of each
// object of a JSON list read on stdin, as a JSON list in the same order:
//
//	[{"kind": ..., "namespace": ..., "name": ..., "status": "Current|InProgress|Failed|Terminating|NotFound|Unknown",
//	  "message": ..., "error": ...}]
//
// It is the test suite's judge of AlertAgent's conditions: the very rules Flux (kustomize-controller,
// helm-controller health checks) and `kpt live status` apply. An object the library cannot judge has
// status Unknown and the library's error.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type result struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Status    string `json:"status"`
	Message   string `json:"message"`
	Error     string `json:"error,omitempty"`
}

func main() {
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kstatus: reading stdin: %v\n", err)
		os.Exit(2)
	}
	// apimachinery's decoder, as client-go's: whole numbers become int64 (kstatus reads
	// metadata.generation and status.observedGeneration as int64), not encoding/json's float64.
	var objects []interface{}
	if err := utiljson.Unmarshal(data, &objects); err != nil {
		fmt.Fprintf(os.Stderr, "kstatus: stdin is not a JSON list of objects: %v\n", err)
		os.Exit(2)
	}
	results := make([]result, 0, len(objects))
	for i, item := range objects {
		object, ok := item.(map[string]interface{})
		if !ok {
			fmt.Fprintf(os.Stderr, "kstatus: item %d is not an object\n", i)
			os.Exit(2)
		}
		u := &unstructured.Unstructured{Object: object}
		r := result{Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName()}
		computed, err := status.Compute(u)
		if err != nil {
			r.Status, r.Error = string(status.UnknownStatus), err.Error()
		} else {
			r.Status, r.Message = string(computed.Status), computed.Message
		}
		results = append(results, r)
	}
	out := json.NewEncoder(os.Stdout)
	out.SetIndent("", "  ")
	if err := out.Encode(results); err != nil {
		fmt.Fprintf(os.Stderr, "kstatus: %v\n", err)
		os.Exit(1)
	}
}
