// Package interop holds tests that run real mail clients against Shoal's
// IMAP and POP3 servers: mbsync (Debian isync) syncing a mailbox both ways.
// The tests skip when the client is not installed.
package interop
