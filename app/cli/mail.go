package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/shoal-p2p/shoal/mail/queue"
	"github.com/shoal-p2p/shoal/node"
)

// mailCmd is the `shoal mail` group.
type mailCmd struct {
	Send  mailSendCmd  `cmd:"" help:"Send a message; its body is read from standard input."`
	Ls    mailLsCmd    `cmd:"" help:"List the messages of a folder (INBOX by default)."`
	Read  mailReadCmd  `cmd:"" help:"Print one message as it is stored."`
	Queue mailQueueCmd `cmd:"" help:"Show outbound mail waiting for delivery, retry or drop it."`
	User  mailUserCmd  `cmd:"" help:"The node's mail users: ls, add, passwd, rm."`
}

type mailSendCmd struct {
	To      []string `placeholder:"ADDR" sep:"none" help:"A recipient (repeatable)."`
	Cc      []string `placeholder:"ADDR" sep:"none" help:"A copy to (repeatable)."`
	Bcc     []string `placeholder:"ADDR" sep:"none" help:"A blind copy to (repeatable)."`
	Subject string   `placeholder:"S" help:"The subject."`
	From    string   `placeholder:"USER" help:"Which of the node's users sends (default: the node's own user)."`
	Attach  []string `placeholder:"FILE" sep:"none" type:"path" help:"Attach a file (repeatable)."`
}

// maxAttachBytes is what all attachments of one message may add up to:
// the servers take messages of 25 MiB, and base64 makes them a third larger.
const maxAttachBytes = 18 << 20

// readAttachments reads the files to attach.
func readAttachments(paths []string) ([]node.MailAttach, error) {
	var out []node.MailAttach
	total := 0
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("attachment: %w", err)
		}
		if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("attachment %s is not a regular file", p)
		}
		if total += int(st.Size()); total > maxAttachBytes {
			return nil, fmt.Errorf("the attachments come to over %d MiB, more than a message may carry", maxAttachBytes>>20)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("attachment: %w", err)
		}
		out = append(out, node.MailAttach{Name: filepath.Base(p), Data: data})
	}
	return out, nil
}

func (s *mailSendCmd) Run(ctx context.Context, g *Globals) error {
	if len(s.To)+len(s.Cc)+len(s.Bcc) == 0 {
		return usagef("give at least one recipient with --to, --cc or --bcc")
	}
	attach, err := readAttachments(s.Attach)
	if err != nil {
		return err
	}
	c, err := g.dial()
	if err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(g.stdin, 25<<20+1))
	if err != nil {
		return fmt.Errorf("reading the message body: %w", err)
	}
	if len(body) > 25<<20 {
		return errors.New("the message body is over 25 MiB")
	}
	req := node.MailSend{User: s.From, To: s.To, Cc: s.Cc, Bcc: s.Bcc, Subject: s.Subject, Body: string(body), Attachments: attach}
	var out struct{ Recipients []string }
	if err := c.doJSON(ctx, http.MethodPost, "/api/v1/mail/send", req, &out); err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "sent to %s\n", strings.Join(out.Recipients, ", "))
	return nil
}

type mailLsCmd struct {
	Folder string `arg:"" optional:"" placeholder:"FOLDER" default:"INBOX" help:"The folder."`
	Unread bool   `help:"Only messages not read yet."`
	User   string `placeholder:"USER" help:"Whose mailbox (default: the node's own user's)."`
}

func (l *mailLsCmd) Run(ctx context.Context, g *Globals) error {
	c, err := g.dial()
	if err != nil {
		return err
	}
	var msgs []node.MailSummary
	q := url.Values{"folder": {l.Folder}, "user": {l.User}}
	if err := c.do(ctx, http.MethodGet, "/api/v1/mail/messages?"+q.Encode(), &msgs); err != nil {
		return err
	}
	if l.Unread {
		msgs = slices.DeleteFunc(msgs, func(m node.MailSummary) bool { return slices.Contains(m.Flags, `\Seen`) })
	}
	if g.JSON {
		return json.NewEncoder(g.stdout).Encode(msgs)
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\t \tDATE\tFROM\tSUBJECT")
	for _, m := range msgs {
		mark := "*" // unread
		if slices.Contains(m.Flags, `\Seen`) {
			mark = " "
		}
		if m.Attachment {
			mark += "@"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", m.UID, mark, m.Date.Local().Format("2006-01-02 15:04"), m.From, m.Subject)
	}
	return tw.Flush()
}

type mailReadCmd struct {
	ID     uint32 `arg:"" name:"id" placeholder:"ID" help:"The message's ID, as 'shoal mail ls' shows it."`
	Folder string `placeholder:"FOLDER" default:"INBOX" help:"The folder."`
	User   string `placeholder:"USER" help:"Whose mailbox (default: the node's own user's)."`
}

func (rd *mailReadCmd) Run(ctx context.Context, g *Globals) error {
	c, err := g.dial()
	if err != nil {
		return err
	}
	q := url.Values{"folder": {rd.Folder}, "user": {rd.User}}
	resp, err := c.send(ctx, http.MethodGet, fmt.Sprintf("/api/v1/mail/messages/%d?%s", rd.ID, q.Encode()), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(g.stdout, resp.Body)
	return err
}

type mailQueueCmd struct {
	Retry string `placeholder:"ID" help:"Try this message again now."`
	Drop  string `placeholder:"ID" help:"Give this message up (no bounce)."`
}

func (mq *mailQueueCmd) Run(ctx context.Context, g *Globals) error {
	if mq.Retry != "" && mq.Drop != "" {
		return usagef("--retry and --drop do not go together")
	}
	c, err := g.dial()
	if err != nil {
		return err
	}
	switch {
	case mq.Retry != "":
		if err := c.do(ctx, http.MethodPost, "/api/v1/mail/queue/"+url.PathEscape(mq.Retry)+"/retry", nil); err != nil {
			return err
		}
		fmt.Fprintf(g.stdout, "retrying %s\n", mq.Retry)
		return nil
	case mq.Drop != "":
		if err := c.do(ctx, http.MethodDelete, "/api/v1/mail/queue/"+url.PathEscape(mq.Drop), nil); err != nil {
			return err
		}
		fmt.Fprintf(g.stdout, "dropped %s\n", mq.Drop)
		return nil
	}
	var msgs []queue.Message
	if err := c.do(ctx, http.MethodGet, "/api/v1/mail/queue", &msgs); err != nil {
		return err
	}
	if g.JSON {
		return json.NewEncoder(g.stdout).Encode(msgs)
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tQUEUED\tFROM\tTO\tSTATE\tATTEMPTS\tNEXT\tLAST REASON")
	for _, m := range msgs {
		for _, r := range m.Recipients {
			next := "-"
			if !r.NextAttempt.IsZero() && r.State == queue.Pending {
				next = time.Until(r.NextAttempt).Round(time.Second).String()
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", m.ID, m.Queued.Local().Format("01-02 15:04"),
				m.From, r.Address, r.State, r.Attempts, next, oneLine(r.LastReason))
		}
	}
	return tw.Flush()
}

// mailUserCmd is `shoal mail user`.
type mailUserCmd struct {
	Ls     mailUserLsCmd     `cmd:"" help:"List the node's mail users."`
	Add    mailUserAddCmd    `cmd:"" help:"Add a user; prints a generated password unless --password-stdin."`
	Passwd mailUserPasswdCmd `cmd:"" help:"Give a user a new password; prints a generated one unless --password-stdin."`
	Rm     mailUserRmCmd     `cmd:"" help:"Remove a user and their mailboxes."`
}

type mailUserLsCmd struct{}

func (mailUserLsCmd) Run(ctx context.Context, g *Globals) error {
	c, err := g.dial()
	if err != nil {
		return err
	}
	var info node.MailInfo
	if err := c.do(ctx, http.MethodGet, "/api/v1/mail", &info); err != nil {
		return err
	}
	if g.JSON {
		return json.NewEncoder(g.stdout).Encode(info)
	}
	for _, u := range info.Users {
		fmt.Fprintln(g.stdout, u.Address)
	}
	return nil
}

// passwordFlag reads a password from standard input when asked to.
type passwordFlag struct {
	PasswordStdin bool `help:"Read the password from standard input (its first line) instead of generating one."`
}

func (p passwordFlag) read(g *Globals) (string, error) {
	if !p.PasswordStdin {
		return "", nil
	}
	line, err := bufio.NewReader(g.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", usagef("--password-stdin read an empty password")
	}
	return pw, nil
}

type mailUserAddCmd struct {
	Name string `arg:"" placeholder:"NAME" help:"The user's name: the part before @."`
	passwordFlag
}

func (a *mailUserAddCmd) Run(ctx context.Context, g *Globals) error {
	return a.send(ctx, g, http.MethodPost, "/api/v1/mail/users", map[string]string{"name": a.Name})
}

// send reads or leaves out the password, sends body with it to the node
// and prints the user it answers.
func (p passwordFlag) send(ctx context.Context, g *Globals, method, path string, body map[string]string) error {
	pw, err := p.read(g)
	if err != nil {
		return err
	}
	c, err := g.dial()
	if err != nil {
		return err
	}
	body["password"] = pw
	var u node.MailUser
	if err := c.doJSON(ctx, method, path, body, &u); err != nil {
		return err
	}
	return printUser(g, u, pw == "")
}

type mailUserPasswdCmd struct {
	Name string `arg:"" placeholder:"NAME" help:"The user's name."`
	passwordFlag
}

func (p *mailUserPasswdCmd) Run(ctx context.Context, g *Globals) error {
	return p.send(ctx, g, http.MethodPut, "/api/v1/mail/users/"+url.PathEscape(p.Name)+"/password", map[string]string{})
}

func printUser(g *Globals, u node.MailUser, generated bool) error {
	if g.JSON {
		return json.NewEncoder(g.stdout).Encode(u)
	}
	if generated {
		fmt.Fprintf(g.stdout, "%s password %s\n", u.Address, u.Password)
	} else {
		fmt.Fprintf(g.stdout, "%s password set\n", u.Address)
	}
	return nil
}

type mailUserRmCmd struct {
	Name string `arg:"" placeholder:"NAME" help:"The user's name."`
}

func (r *mailUserRmCmd) Run(ctx context.Context, g *Globals) error {
	c, err := g.dial()
	if err != nil {
		return err
	}
	if err := c.do(ctx, http.MethodDelete, "/api/v1/mail/users/"+url.PathEscape(r.Name), nil); err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "removed %s\n", r.Name)
	return nil
}
