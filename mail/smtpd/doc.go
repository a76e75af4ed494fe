// Package smtpd is a node's two SMTP servers, built on emersion/go-smtp.
//
// The Relay (port 7425 in a node) takes mail from other nodes: only for the
// node's own domain (no open relay), only for users that exist, and only from
// a member domain whose DKIM signature verifies through the node's resolver.
// The Submission server (port 7587) takes mail from the node's own user
// after AUTH PLAIN or LOGIN: it signs each message with the node's DKIM key,
// delivers to local recipients at once, hands the rest to the outbound queue
// (an Outbox, which mail/queue implements) and files a copy in Sent.
//
// Both answer 250 to DATA only once the message is committed: every local
// mailbox Deliver has returned (the store fsyncs) and the queue has its copy.
// The mail store and the resolver come in through the small interfaces
// declared here; node passes in mailstore and naming.
package smtpd
