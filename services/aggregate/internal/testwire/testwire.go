// Package testwire holds what the tests of several packages compare results by: the result
// parts exactly as the sink receives them, real batches, and the files a run left behind.
package testwire

import (
	"encoding/binary"
	"os"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/modular-runtime/aggregate/gen/pipeline/v1"
)

// Parts is the parts as the sink receives them, byte for byte (each length-prefixed).
func Parts(t testing.TB, parts []*pb.ResultPart) []byte {
	t.Helper()
	var out []byte
	for _, p := range parts {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		out = binary.AppendUvarint(out, uint64(len(b)))
		out = append(out, b...)
	}
	return out
}

// DirFiles lists the names in dir (sorted, as os.ReadDir returns them): the snapshot files a
// checkpoint store or a run left behind.
func DirFiles(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}
