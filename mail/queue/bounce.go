package queue

import (
	"context"
	"fmt"
	"strings"

	"github.com/mjl-/mox/dsn"
	"github.com/mjl-/mox/mlog"
	moxsmtp "github.com/mjl-/mox/smtp"
)

// report composes an RFC 3464 delivery status notification about rcpts of
// m (bounced ones, and delivered ones that asked NOTIFY=SUCCESS) and files
// it in the sender's INBOX. Only the node's own users send through the
// queue, so the sender is always local.
func (q *Queue) report(ctx context.Context, m Message, rcpts []Recipient) error {
	local, domain, err := splitAddress(m.From)
	if err != nil {
		return err
	}
	if domain != q.opts.Domain {
		q.log.Warn("queue: report for a sender of another domain not sent", "id", m.ID, "from", m.From)
		return nil
	}
	raw, err := q.composeDSN(m, rcpts)
	if err != nil {
		return fmt.Errorf("compose: %w", err)
	}
	if _, err := q.opts.Mailboxes.Deliver(ctx, local, raw); err != nil {
		return fmt.Errorf("deliver to %s: %w", local, err)
	}
	q.log.Info("queue: report sent", "id", m.ID, "to", m.From, "rcpts", len(rcpts))
	return nil
}

func (q *Queue) composeDSN(m Message, rcpts []Recipient) ([]byte, error) {
	postmaster, err := moxsmtp.ParseAddress("postmaster@" + q.opts.Domain)
	if err != nil {
		return nil, err
	}
	to, err := moxsmtp.ParseAddress(m.From)
	if err != nil {
		return nil, err
	}
	d := dsn.Message{
		From:               postmaster.Path(),
		To:                 to.Path(),
		Subject:            "Delivery report: delivered",
		MessageID:          fmt.Sprintf("%s.report.%s@%s", m.ID, newID(q.opts.Now()), q.opts.Domain),
		References:         m.MessageID,
		OriginalEnvelopeID: m.EnvID,
		ReportingMTA:       q.opts.Domain,
		ArrivalDate:        m.Queued,
	}
	var failed, delivered strings.Builder
	for _, r := range rcpts {
		addr, err := moxsmtp.ParseAddress(r.Address)
		if err != nil {
			return nil, err
		}
		dr := dsn.Recipient{
			FinalRecipient:  addr.Path(),
			RemoteMTA:       dsn.NameIP{Name: r.Host},
			LastAttemptDate: r.LastAttempt,
		}
		if r.ORCPT != "" {
			if o, err := moxsmtp.ParseAddress(r.ORCPT); err == nil {
				dr.OriginalRecipient = o.Path()
			}
		}
		if r.State == Bounced {
			d.Subject = "Undelivered mail returned to sender"
			fmt.Fprintf(&failed, "<%s>: %s\n", r.Address, r.LastReason)
			dr.Action = dsn.Failed
			dr.Status = permanentStatus(r.LastStatus)
			dr.DiagnosticCodeSMTP = r.LastReason
		} else {
			dr.Status = "2.0.0"
			if r.Host == q.opts.Domain {
				fmt.Fprintf(&delivered, "<%s>: delivered to the mailbox\n", r.Address)
				dr.Action = dsn.Delivered
			} else {
				// The receiving node sends no reports of its own.
				fmt.Fprintf(&delivered, "<%s>: handed to %s, which sends no further reports\n", r.Address, r.Host)
				dr.Action = dsn.Relayed
			}
		}
		d.Recipients = append(d.Recipients, dr)
	}
	var text strings.Builder
	if failed.Len() > 0 {
		text.WriteString("Your message could not be delivered to these recipients:\n\n" + failed.String() + "\n")
	}
	if delivered.Len() > 0 {
		text.WriteString("Your message was delivered to these recipients:\n\n" + delivered.String())
	}
	d.TextBody = text.String()
	if raw, err := q.body(m.ID); err == nil {
		d.Original = raw // Compose includes only its header
	}
	return d.Compose(mlog.New("queue", q.log), false)
}

// permanentStatus makes a failure's status code a 5.x.x one.
func permanentStatus(status string) string {
	if strings.HasPrefix(status, "5.") {
		return status
	}
	if _, rest, ok := strings.Cut(status, "."); ok {
		return "5." + rest
	}
	return "5.0.0"
}
