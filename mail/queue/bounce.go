package queue

import (
	"context"
	"fmt"
	"strings"

	"github.com/mjl-/mox/dsn"
	"github.com/mjl-/mox/mlog"
	moxsmtp "github.com/mjl-/mox/smtp"
)

// bounce composes an RFC 3464 delivery status notification for the failed
// recipients of m and files it in the sender's INBOX. Only the node's own
// users send through the queue, so the sender is always local.
func (q *Queue) bounce(ctx context.Context, m Message, failed []Recipient) error {
	local, domain, err := splitAddress(m.From)
	if err != nil {
		return err
	}
	if domain != q.opts.Domain {
		q.log.Warn("queue: bounce for a sender of another domain not sent", "id", m.ID, "from", m.From)
		return nil
	}
	raw, err := q.composeDSN(m, failed)
	if err != nil {
		return fmt.Errorf("compose: %w", err)
	}
	if _, err := q.opts.Mailboxes.Deliver(ctx, local, raw); err != nil {
		return fmt.Errorf("deliver to %s: %w", local, err)
	}
	q.log.Info("queue: bounce sent", "id", m.ID, "to", m.From, "rcpts", len(failed))
	return nil
}

func (q *Queue) composeDSN(m Message, failed []Recipient) ([]byte, error) {
	postmaster, err := moxsmtp.ParseAddress("postmaster@" + q.opts.Domain)
	if err != nil {
		return nil, err
	}
	to, err := moxsmtp.ParseAddress(m.From)
	if err != nil {
		return nil, err
	}
	var text strings.Builder
	fmt.Fprintf(&text, "Your message could not be delivered to %d recipient(s).\n\n", len(failed))
	d := dsn.Message{
		From:         postmaster.Path(),
		To:           to.Path(),
		Subject:      "Undelivered mail returned to sender",
		MessageID:    fmt.Sprintf("%s.bounce@%s", m.ID, q.opts.Domain),
		References:   m.MessageID,
		ReportingMTA: q.opts.Domain,
		ArrivalDate:  m.Queued,
	}
	for _, r := range failed {
		fmt.Fprintf(&text, "<%s>: %s\n", r.Address, r.LastReason)
		addr, err := moxsmtp.ParseAddress(r.Address)
		if err != nil {
			return nil, err
		}
		status := r.LastStatus
		if status == "" || status[0] != '5' {
			status = "5" + strings.TrimLeft(status, "0123456789")
			if status == "5" {
				status = "5.0.0"
			}
		}
		d.Recipients = append(d.Recipients, dsn.Recipient{
			FinalRecipient:     addr.Path(),
			Action:             dsn.Failed,
			Status:             status,
			RemoteMTA:          dsn.NameIP{Name: r.Host},
			DiagnosticCodeSMTP: r.LastReason,
			LastAttemptDate:    r.LastAttempt,
		})
	}
	d.TextBody = text.String()
	if raw, err := q.body(m.ID); err == nil {
		d.Original = raw // Compose includes only its header
	}
	return d.Compose(mlog.New("queue", q.log), false)
}
