package membership

import "errors"

// Reasons a record is rejected. Check them with errors.Is.
var (
	// ErrInvalid: a field is malformed or out of bounds.
	ErrInvalid = errors.New("membership: invalid record")
	// ErrIDMismatch: the record's id is not its public key's.
	ErrIDMismatch = errors.New("membership: id does not match the public key")
	// ErrBadSignature: the signature does not verify.
	ErrBadSignature = errors.New("membership: bad signature")
	// ErrWrongNetwork: the record belongs to another network.
	ErrWrongNetwork = errors.New("membership: record of another network")
	// ErrStale: the stored record has the same or a higher sequence number.
	ErrStale = errors.New("membership: sequence number not above the stored record's")
	// ErrRemoved: the member was removed and this record is not newer than
	// the one it was removed with.
	ErrRemoved = errors.New("membership: member was removed")
	// ErrCertMismatch: a member's TLS certificate is of another key than
	// the record it sends.
	ErrCertMismatch = errors.New("membership: certificate key is not the record's")
	// ErrNotMember: no member of the table has this id.
	ErrNotMember = errors.New("membership: no such member")
)
