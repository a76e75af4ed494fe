package mailstore

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestMessageRecordRoundTrip(t *testing.T) {
	date := time.Date(2026, 12, 1, 9, 30, 0, 123456789, time.UTC)
	for _, m := range []msgRecord{
		{UID: 1, Flags: []string{}, Date: date, Size: 0, Body: "ab"},
		{UID: 4294967295, Flags: []string{FlagSeen, "$Label1"}, Date: date, Size: 25 << 20, Body: "0123456789abcdef", MessageID: "<x@alice.shoal>"},
	} {
		raw, err := m.encode()
		if err != nil {
			t.Fatal(err)
		}
		var got msgRecord
		if err := got.decode(raw); err != nil {
			t.Fatalf("decode %x: %v", raw, err)
		}
		if !reflect.DeepEqual(got, m) || !got.Date.Equal(m.Date) {
			t.Errorf("got %+v, want %+v", got, m)
		}
		// Every shorter or longer record is refused, not misread.
		for i := range raw {
			var short msgRecord
			if err := short.decode(raw[:i]); err == nil {
				t.Errorf("%d of %d bytes decoded as %+v", i, len(raw), short)
			}
		}
		var long msgRecord
		if err := long.decode(append(raw, 0)); err == nil {
			t.Errorf("a trailing byte decoded as %+v", long)
		}
	}
}

// Records stored as JSON, before the binary form, are still read.
func TestMessageRecordReadsJSON(t *testing.T) {
	want := msgRecord{UID: 7, Flags: []string{FlagSeen}, Date: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Size: 42, Body: "beef", MessageID: "<m@b.shoal>"}
	raw, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var got msgRecord
	if err := got.decode(raw); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, %v", got, err)
	}
}

// Messages answers by UID in the order asked, whatever the order: ascending
// (the cursor's next key), with gaps and expunged UIDs, descending, twice.
func TestMessagesInAnyOrder(t *testing.T) {
	ctx := context.Background()
	s := openTest(t, Options{})
	if err := s.AddUser(ctx, "bob", "password1"); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 20; i++ {
		if _, _, err := s.Append(ctx, "bob", "INBOX", msg(fmt.Sprintf("m%d", i), "x"), nil, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Remove(ctx, "bob", "INBOX", []uint32{5, 6, 20}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ ask, want []uint32 }{
		{[]uint32{1, 2, 3, 4, 5, 6, 7}, []uint32{1, 2, 3, 4, 7}},
		{[]uint32{2, 9, 10, 19, 20, 21}, []uint32{2, 9, 10, 19}},
		{[]uint32{19, 7, 3, 1}, []uint32{19, 7, 3, 1}},
		{[]uint32{8, 8, 4, 4}, []uint32{8, 8, 4, 4}},
		{[]uint32{0, 100}, nil},
	} {
		got, err := s.Messages(ctx, "bob", "INBOX", c.ask, NoBody)
		if err != nil {
			t.Fatal(err)
		}
		var uids []uint32
		for _, m := range got {
			uids = append(uids, m.UID)
		}
		if !slices.Equal(uids, c.want) {
			t.Errorf("asked %v: got %v, want %v", c.ask, uids, c.want)
		}
	}
}
