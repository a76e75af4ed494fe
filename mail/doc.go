// Package mail is a node's mail: every node is the mail server of its domain
// NAME.shoal and the mail client of its own user. Below it: SMTP relay between
// nodes and authenticated submission (smtpd), the outbound queue (queue),
// DKIM signing (dkim), the users and mailboxes kept in bbolt (mailstore), and
// the IMAP (imapd) and POP3 (pop3d) servers that mail clients read them with.
package mail
