package queue

import (
	"context"
	"net"
	"time"
)

// Internals the external tests look at.

func (q *Queue) Backoff(n int) time.Duration { return q.backoff(n) }

func (q *Queue) Body(id string) ([]byte, error) { return q.body(id) }

// Transact runs one SMTP transaction on conn for one recipient and says
// whether it failed for good, and why.
func (q *Queue) Transact(ctx context.Context, conn net.Conn, host, from, rcpt string, raw []byte) (permanent bool, reason string) {
	res, _ := q.transact(ctx, conn, host, nil, from, []string{rcpt}, raw)
	return res[rcpt].permanent, res[rcpt].reason
}
