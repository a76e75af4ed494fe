package mailstore

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
)

// A message record is read for every message a client lists, so it is kept
// in a compact binary form rather than JSON: recordV1, then the UID, the
// size, the internal date (time.MarshalBinary, with its offset), and the
// body ID, the Message-ID and the flags as length-prefixed strings.
// Records written as JSON (they begin with '{') are still read.
const recordV1 = 1

var errRecord = errors.New("mailstore: corrupt message record")

func (m msgRecord) encode() ([]byte, error) {
	date, err := m.Date.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("mailstore: message date: %w", err)
	}
	b := make([]byte, 0, 1+4+10+1+len(date)+2+len(m.Body)+2+len(m.MessageID)+2+12*len(m.Flags))
	b = append(b, recordV1)
	b = binary.BigEndian.AppendUint32(b, m.UID)
	b = binary.AppendVarint(b, m.Size)
	b = appendBytes(b, date)
	b = appendBytes(b, []byte(m.Body))
	b = appendBytes(b, []byte(m.MessageID))
	b = binary.AppendUvarint(b, uint64(len(m.Flags)))
	for _, f := range m.Flags {
		b = appendBytes(b, []byte(f))
	}
	return b, nil
}

func appendBytes(b, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func (m *msgRecord) decode(raw []byte) error {
	if len(raw) > 0 && raw[0] == '{' {
		return json.Unmarshal(raw, m)
	}
	if len(raw) < 5 || raw[0] != recordV1 {
		return errRecord
	}
	r := recordReader{b: raw[5:]}
	*m = msgRecord{UID: binary.BigEndian.Uint32(raw[1:5])}
	m.Size = r.varint()
	if err := m.Date.UnmarshalBinary(r.bytes()); err != nil && !r.bad {
		return errRecord
	}
	m.Body = string(r.bytes())
	m.MessageID = string(r.bytes())
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		return errRecord
	}
	m.Flags = make([]string, 0, n)
	for range n {
		m.Flags = append(m.Flags, string(r.bytes()))
	}
	if r.bad || len(r.b) != 0 {
		return errRecord
	}
	return nil
}

// recordReader reads a record's fields in turn; after the first short or
// bad one, bad is set and every later read gives a zero value.
type recordReader struct {
	b   []byte
	bad bool
}

func (r *recordReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recordReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *recordReader) bytes() []byte {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	s := r.b[:n]
	r.b = r.b[n:]
	return s
}

func (r *recordReader) fail() { r.b, r.bad = nil, true }
