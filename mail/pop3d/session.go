package pop3d

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/shoal-p2p/shoal/mail/mailstore"
)

const (
	maxLine       = 255 // octets of a command line with its CRLF (RFC 2449)
	maxBadCommand = 10  // errors in a row before the server hangs up
	writeTimeout  = time.Minute
)

var errLineTooLong = errors.New("line too long")

type state int

const (
	authorization state = iota
	transaction
)

type message struct {
	uid       uint32
	size      int64
	deleted   bool
	retrieved bool
}

type session struct {
	srv  *Server
	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
	tls  bool

	remote string
	state  state
	user   string // given by USER
	authed string // the logged-in user, holding the maildrop lock
	msgs   []message
	valid  uint32 // INBOX's UIDVALIDITY, for UIDL
	bad    int
}

func newSession(srv *Server, conn net.Conn) *session {
	remote := conn.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(remote); err == nil {
		remote = host
	}
	return &session{srv: srv, conn: conn, r: bufio.NewReaderSize(conn, 1024), w: bufio.NewWriter(conn), remote: remote}
}

func (s *session) serve() {
	defer func() {
		if s.authed != "" {
			s.srv.unlock(s.authed)
		}
		s.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
		s.w.Flush()
		s.conn.Close()
	}()
	s.reply("+OK Shoal POP3 server ready")
	for {
		s.conn.SetReadDeadline(time.Now().Add(s.srv.opts.IdleTimeout))
		line, err := s.readLine()
		if errors.Is(err, errLineTooLong) {
			if !s.fail("-ERR line too long") {
				return
			}
			continue
		}
		if err != nil {
			return // dropped or timed out: nothing is deleted
		}
		bad := s.bad
		if !s.command(line) {
			return
		}
		if s.bad == bad {
			s.bad = 0 // a command that went well ends a run of errors
		}
	}
}

// readLine reads one CRLF- (or LF-) terminated line of at most maxLine
// octets; a longer one is read to its end and refused.
func (s *session) readLine() (string, error) {
	var buf []byte
	tooLong := false
	for {
		chunk, err := s.r.ReadSlice('\n')
		if !tooLong && len(buf)+len(chunk) <= maxLine {
			buf = append(buf, chunk...)
		} else {
			tooLong = true
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			return "", err
		}
		if tooLong {
			return "", errLineTooLong
		}
		return strings.TrimRight(string(buf), "\r\n"), nil
	}
}

// reply writes one response line, flushing unless more pipelined commands
// are already waiting.
func (s *session) reply(format string, args ...any) {
	fmt.Fprintf(s.w, format, args...)
	s.w.WriteString("\r\n")
	s.flush()
}

func (s *session) flush() {
	if s.r.Buffered() == 0 {
		s.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
		s.w.Flush()
	}
}

// fail sends an error; after too many in a row it hangs up (false).
func (s *session) fail(msg string) bool {
	s.bad++
	if s.bad >= maxBadCommand {
		s.reply("%s; too many errors, closing", msg)
		return false
	}
	s.reply("%s", msg)
	return true
}

func (s *session) plaintextOK() bool { return s.tls || s.srv.opts.InsecureAuth }

// command runs one command line; false ends the session.
func (s *session) command(line string) bool {
	verb, arg, _ := strings.Cut(line, " ")
	verb = strings.ToUpper(verb)
	args := strings.Fields(arg)
	if s.state == authorization {
		switch verb {
		case "CAPA":
			s.capa()
		case "QUIT":
			s.reply("+OK bye")
			return false
		case "STLS":
			return s.stls()
		case "USER":
			if !s.plaintextOK() {
				return s.fail("-ERR [AUTH] plaintext login needs STLS first")
			}
			if len(args) != 1 {
				return s.fail("-ERR usage: USER name")
			}
			s.user = args[0]
			s.reply("+OK send PASS")
		case "PASS":
			if !s.plaintextOK() {
				return s.fail("-ERR [AUTH] plaintext login needs STLS first")
			}
			if s.user == "" {
				return s.fail("-ERR USER first")
			}
			// The password is the rest of the line: it may hold spaces.
			return s.pass(arg)
		case "NOOP", "STAT", "LIST", "RETR", "DELE", "RSET", "TOP", "UIDL":
			return s.fail("-ERR log in first")
		default:
			return s.fail("-ERR unknown command")
		}
		return true
	}
	ok := true
	switch verb {
	case "CAPA":
		s.capa()
	case "NOOP":
		s.reply("+OK")
	case "STAT":
		n, size := s.count()
		s.reply("+OK %d %d", n, size)
	case "LIST":
		ok = s.list(args, false)
	case "UIDL":
		ok = s.list(args, true)
	case "RETR":
		ok = s.retr(args)
	case "TOP":
		ok = s.top(args)
	case "DELE":
		i, good := s.msgArg(args, 1)
		if !good {
			return true
		}
		s.msgs[i].deleted = true
		s.reply("+OK message %d deleted", i+1)
	case "RSET":
		for i := range s.msgs {
			s.msgs[i].deleted = false
		}
		n, size := s.count()
		s.reply("+OK maildrop has %d messages (%d octets)", n, size)
	case "QUIT":
		s.update()
		return false
	case "USER", "PASS", "STLS":
		ok = s.fail("-ERR already logged in")
	default:
		ok = s.fail("-ERR unknown command")
	}
	return ok
}

func (s *session) capa() {
	s.w.WriteString("+OK capability list follows\r\n")
	caps := []string{"TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE NEVER", "IMPLEMENTATION Shoal"}
	if s.state == authorization && s.plaintextOK() {
		caps = append(caps, "USER")
	}
	if s.state == authorization && !s.tls && s.srv.opts.TLS != nil {
		caps = append(caps, "STLS")
	}
	for _, c := range caps {
		s.w.WriteString(c + "\r\n")
	}
	s.reply(".")
}

func (s *session) stls() bool {
	if s.srv.opts.TLS == nil || s.tls {
		return s.fail("-ERR STLS not available")
	}
	if s.r.Buffered() > 0 {
		// Commands sent ahead of the handshake could have been injected by
		// a man in the middle (RFC 2595 and CVE-2011-0411 for SMTP).
		s.reply("-ERR commands after STLS must wait for its reply")
		return false
	}
	s.reply("+OK begin TLS negotiation")
	s.w.Flush()
	tc := tls.Server(s.conn, s.srv.opts.TLS)
	tc.SetDeadline(time.Now().Add(time.Minute))
	if err := tc.Handshake(); err != nil {
		s.srv.opts.Log.Info("pop3d: TLS handshake failed", "remote", s.remote, "err", err)
		return false
	}
	tc.SetDeadline(time.Time{})
	s.conn = tc
	s.r = bufio.NewReaderSize(tc, 1024)
	s.w = bufio.NewWriter(tc)
	s.tls = true
	s.user = ""
	return true
}

func (s *session) pass(password string) bool {
	ctx := s.srv.ctx
	user := s.user
	s.user = ""
	err := s.srv.store.Authenticate(ctx, user, password)
	if errors.Is(err, mailstore.ErrBadCredentials) {
		d, n := s.srv.opts.Throttle.Failed(s.remote)
		s.srv.opts.Log.Warn("pop3d: failed login", "user", user, "remote", s.remote, "failures", n, "delay", d)
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return false
		}
		return s.fail("-ERR [AUTH] invalid user name or password")
	}
	if err != nil {
		s.srv.opts.Log.Error("pop3d: authenticate", "user", user, "err", err)
		return s.fail("-ERR [SYS/TEMP] cannot check the password now")
	}
	s.srv.opts.Throttle.Succeeded(s.remote)
	user = strings.ToLower(user)
	if !s.srv.lock(user) {
		return s.fail("-ERR [IN-USE] maildrop already in use by another POP3 session")
	}
	st, err := s.srv.store.FolderStatus(ctx, user, mailstore.Inbox)
	var msgs []mailstore.Message
	if err == nil {
		var uids []uint32
		if uids, err = s.srv.store.UIDs(ctx, user, mailstore.Inbox); err == nil {
			msgs, err = s.srv.store.Messages(ctx, user, mailstore.Inbox, uids, mailstore.NoBody)
		}
	}
	if err != nil {
		s.srv.unlock(user)
		s.srv.opts.Log.Error("pop3d: open maildrop", "user", user, "err", err)
		return s.fail("-ERR [SYS/TEMP] cannot open the maildrop now")
	}
	s.authed = user
	s.valid = st.UIDValidity
	s.msgs = make([]message, len(msgs))
	for i, m := range msgs {
		s.msgs[i] = message{uid: m.UID, size: m.Size}
	}
	s.state = transaction
	s.srv.opts.Log.Info("pop3d: login", "user", user, "remote", s.remote)
	n, size := s.count()
	s.reply("+OK maildrop has %d messages (%d octets)", n, size)
	return true
}

// count is the messages not marked deleted and their size.
func (s *session) count() (n int, size int64) {
	for _, m := range s.msgs {
		if !m.deleted {
			n++
			size += m.size
		}
	}
	return n, size
}

// msgArg parses a message-number argument at position 0 of args (which
// must have want arguments) and answers -ERR itself when it is bad.
func (s *session) msgArg(args []string, want int) (int, bool) {
	if len(args) != want {
		s.fail("-ERR wrong number of arguments")
		return 0, false
	}
	n, err := strconv.Atoi(args[0])
	if err != nil || n < 1 || n > len(s.msgs) {
		s.fail("-ERR no such message")
		return 0, false
	}
	if s.msgs[n-1].deleted {
		s.fail(fmt.Sprintf("-ERR message %d already deleted", n))
		return 0, false
	}
	return n - 1, true
}

func (s *session) list(args []string, uidl bool) bool {
	item := func(i int) string {
		if uidl {
			return fmt.Sprintf("%d %d.%d", i+1, s.valid, s.msgs[i].uid)
		}
		return fmt.Sprintf("%d %d", i+1, s.msgs[i].size)
	}
	if len(args) > 0 {
		i, ok := s.msgArg(args, 1)
		if ok {
			s.reply("+OK %s", item(i))
		}
		return true
	}
	n, size := s.count()
	fmt.Fprintf(s.w, "+OK %d messages (%d octets)\r\n", n, size)
	for i, m := range s.msgs {
		if !m.deleted {
			s.w.WriteString(item(i) + "\r\n")
		}
	}
	s.reply(".")
	return true
}

func (s *session) body(i int) ([]byte, bool) {
	b, err := s.srv.store.Body(s.srv.ctx, s.authed, mailstore.Inbox, s.msgs[i].uid)
	if err != nil {
		s.fail(fmt.Sprintf("-ERR message %d is no longer in the maildrop", i+1))
		return nil, false
	}
	return b, true
}

func (s *session) retr(args []string) bool {
	i, ok := s.msgArg(args, 1)
	if !ok {
		return true
	}
	b, ok := s.body(i)
	if !ok {
		return true
	}
	fmt.Fprintf(s.w, "+OK %d octets\r\n", len(b))
	if err := writeStuffed(s.w, b, -1); err != nil {
		return false
	}
	s.msgs[i].retrieved = true
	s.reply(".")
	return true
}

func (s *session) top(args []string) bool {
	if len(args) != 2 {
		return s.fail("-ERR usage: TOP msg lines")
	}
	lines, err := strconv.Atoi(args[1])
	if err != nil || lines < 0 {
		return s.fail("-ERR bad number of lines")
	}
	i, ok := s.msgArg(args[:1], 1)
	if !ok {
		return true
	}
	b, ok := s.body(i)
	if !ok {
		return true
	}
	s.w.WriteString("+OK top of message follows\r\n")
	if err := writeStuffed(s.w, b, lines); err != nil {
		return false
	}
	s.reply(".")
	return true
}

// writeStuffed writes a message a line at a time, doubling a leading '.'
// (RFC 1939 3). With bodyLines >= 0 it stops after the header, the blank
// line and that many body lines (TOP).
func writeStuffed(w *bufio.Writer, msg []byte, bodyLines int) error {
	inBody := false
	for len(msg) > 0 {
		line := msg
		if i := bytes.IndexByte(msg, '\n'); i >= 0 {
			line = msg[:i+1]
		}
		msg = msg[len(line):]
		if inBody && bodyLines >= 0 {
			if bodyLines == 0 {
				break
			}
			bodyLines--
		}
		if line[0] == '.' {
			w.WriteByte('.')
		}
		content := bytes.TrimRight(line, "\r\n")
		w.Write(content)
		if _, err := w.WriteString("\r\n"); err != nil {
			return err
		}
		if len(content) == 0 {
			inBody = true
		}
	}
	return nil
}

// update is the UPDATE state: the marked messages go and the retrieved
// ones are flagged \Seen, each in one transaction; the session ends.
func (s *session) update() {
	var del, seen []uint32
	for _, m := range s.msgs {
		switch {
		case m.deleted:
			del = append(del, m.uid)
		case m.retrieved:
			seen = append(seen, m.uid)
		}
	}
	ctx := s.srv.ctx
	if len(seen) > 0 {
		if _, err := s.srv.store.StoreFlags(ctx, s.authed, mailstore.Inbox, seen, mailstore.FlagsAdd, []string{mailstore.FlagSeen}); err != nil {
			s.srv.opts.Log.Error("pop3d: mark retrieved messages seen", "user", s.authed, "err", err)
		}
	}
	if len(del) > 0 {
		if _, err := s.srv.store.Remove(ctx, s.authed, mailstore.Inbox, del); err != nil {
			s.srv.opts.Log.Error("pop3d: remove deleted messages", "user", s.authed, "err", err)
			s.reply("-ERR [SYS/TEMP] some deleted messages not removed")
			s.w.Flush()
			return
		}
	}
	n, _ := s.count()
	s.reply("+OK bye, %d messages left", n)
	s.w.Flush()
}
