// Package mailstore keeps a node's mail users and their mailboxes in the
// node's bbolt database.
//
// A user (the local part of USER@NAME.shoal, case-insensitive, kept
// lower-cased) has a bcrypt password hash, never the password, and the
// folders INBOX, Sent, Drafts, Trash and Junk, the last four with their
// SPECIAL-USE attribute (RFC 6154), plus folders of their own ("/" separates
// levels). Each folder has a UIDVALIDITY, a UIDNEXT and its messages: UID,
// flags in canonical case (\Seen, \Answered, \Flagged, \Deleted, \Draft and
// keywords), internal date and size. A message body is stored once, under its
// SHA-256, with a reference count, and is removed with its last reference.
// Bodies are kept with CRLF line ends, so sizes are what IMAP and POP3 send.
//
// Every change is one bbolt transaction, committed (fsynced) before the call
// returns. After each commit the store tells the subscribers of the folder
// (Subscribe) what changed, in commit order, so IMAP sessions and IDLE see
// new mail, flag changes and expunges made by anyone.
//
// Deliver de-duplicates a retried delivery: a message whose Message-ID (or,
// without one, whose body) was delivered into the same INBOX within the
// de-duplication window (24 hours by default) is not stored again, and the
// first copy's UID is returned. An SMTP transaction retried after a crash
// between commit and "250" therefore does not store the message twice.
package mailstore
