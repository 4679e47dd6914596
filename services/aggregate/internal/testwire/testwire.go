// Package testwire holds what the tests of several packages compare results by: the result
// parts exactly as the sink receives them.
package testwire

import (
	"encoding/binary"
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
