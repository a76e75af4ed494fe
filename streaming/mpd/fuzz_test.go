package mpd

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzParse: no input makes Parse panic, and whatever it accepts survives a
// write and a second parse unchanged.
func FuzzParse(f *testing.F) {
	names, _ := filepath.Glob(filepath.Join("testdata", "*.mpd"))
	for _, name := range names {
		raw, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte(oneRep(goodRep)))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := Parse(raw)
		if err != nil {
			return
		}
		var b bytes.Buffer
		if err := m.Write(&b); err != nil {
			t.Fatalf("write: %v", err)
		}
		again, err := Parse(b.Bytes())
		if err != nil {
			t.Fatalf("the written MPD does not parse: %v\n%s", err, b.String())
		}
		if !reflect.DeepEqual(public(m), public(again)) {
			t.Fatalf("round trip changed the manifest")
		}
	})
}
