// Command e2ebench measures mail end to end between two Shoal nodes: the
// time from a submission on one node (MAIL FROM on an authenticated
// STARTTLS session) until an IMAP IDLE client of the recipient on the other
// node is told EXISTS. Messages go one at a time; it prints the median, p99
// and range, and the same for the submission's 250 alone.
//
// It starts the two nodes itself as `shoal node` processes (-shoal BIN) on
// their own loopback addresses and temporary data dirs, and stops them at
// the end:
//
//	go run ./mail/bench/e2ebench -shoal bin/shoal -n 200
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

func main() {
	bin := flag.String("shoal", "bin/shoal", "the shoal binary")
	n := flag.Int("n", 200, "messages measured")
	warmup := flag.Int("warmup", 5, "messages sent first, not counted")
	ipA := flag.String("from-ip", "127.0.0.2", "the sending node's bind address")
	ipB := flag.String("to-ip", "127.0.0.3", "the receiving node's bind address")
	size := flag.Int("size", 2048, "body bytes of each message")
	keep := flag.Bool("keep", false, "keep the nodes' data dirs and logs")
	samples := flag.Bool("samples", false, "print every sample (index, end to end, submission) too")
	flag.Parse()
	if err := run(*bin, *ipA, *ipB, *n, *warmup, *size, *keep, *samples); err != nil {
		fmt.Fprintln(os.Stderr, "e2ebench:", err)
		os.Exit(1)
	}
}

func run(bin, ipA, ipB string, n, warmup, size int, keep, samples bool) error {
	work, err := os.MkdirTemp("", "e2ebench")
	if err != nil {
		return err
	}
	defer func() {
		if keep {
			fmt.Println("kept", work)
		} else {
			os.RemoveAll(work)
		}
	}()
	a, err := startNode(bin, work, "sender", ipA, "alice")
	if err != nil {
		return err
	}
	defer a.stop()
	b, err := startNode(bin, work, "receiver", ipB, "bob", "--join", a.services["peer"])
	if err != nil {
		return err
	}
	defer b.stop()

	idle, err := newIdler(b.services["imap"], "bob", b.password, warmup+n)
	if err != nil {
		return fmt.Errorf("IMAP on the receiver: %w", err)
	}
	defer idle.close()
	sub, err := newSubmitter(a.services["submission"], "alice", a.password, "alice@sender.shoal", "bob@receiver.shoal", size)
	if err != nil {
		return fmt.Errorf("submission on the sender: %w", err)
	}
	defer sub.close()

	// The first message waits for the nodes to know each other's ports: the
	// queue retries it (retry_scale) until the receiver takes it.
	var e2e, accept []time.Duration
	for i := range warmup + n {
		limit := 5 * time.Second
		if i == 0 {
			limit = 60 * time.Second
		}
		start := time.Now()
		if err := sub.send(i); err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
		accepted := time.Since(start)
		if err := idle.waitFor(uint32(i+1), start.Add(limit)); err != nil {
			return fmt.Errorf("message %d: %w (sender's log: %s)", i, err, a.log)
		}
		if i >= warmup {
			e2e = append(e2e, time.Since(start))
			accept = append(accept, accepted)
		}
	}
	if samples {
		for i := range e2e {
			fmt.Printf("%d %.2f %.2f\n", i, ms(e2e[i]), ms(accept[i]))
		}
	}
	fmt.Printf("end to end (submission to EXISTS on the other node), n=%d: %s\n", n, summary(e2e))
	fmt.Printf("submission alone (MAIL FROM to the 250 after DATA):      %s\n", summary(accept))
	return nil
}

// summary is median, p99 (nearest rank) and range in milliseconds.
func summary(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	p99 := s[max(0, (len(s)*99+99)/100-1)]
	return fmt.Sprintf("median %.1f ms, p99 %.1f ms, min %.1f ms, max %.1f ms", ms(s[len(s)/2]), ms(p99), ms(s[0]), ms(s[len(s)-1]))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// node is a `shoal node` process.
type node struct {
	cmd      *exec.Cmd
	exited   chan struct{}
	log      string
	services map[string]string
	password string
}

func startNode(bin, work, name, ip, user string, extra ...string) (*node, error) {
	dir := filepath.Join(work, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf("[mail]\nuser = %q\nretry_scale = 0.001\n", user)
	if err := os.WriteFile(filepath.Join(dir, "shoal.toml"), []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	args := []string{"node", "--data", dir, "--name", name, "--bind", ip, "--ui", ip + ":0", "--log-level", "warn"}
	for _, p := range []string{"peer", "bittorrent", "dns", "smtp", "submission", "imap", "pop3"} {
		args = append(args, "--"+p+"-port=0")
	}
	nd := &node{log: dir + ".log", exited: make(chan struct{})}
	out, err := os.Create(nd.log)
	if err != nil {
		return nil, err
	}
	defer out.Close()
	nd.cmd = exec.Command(bin, append(args, extra...)...)
	nd.cmd.Stdout, nd.cmd.Stderr = out, out
	if err := nd.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { nd.cmd.Wait(); close(nd.exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-nd.exited:
			return nil, fmt.Errorf("node %s exited; see %s", name, nd.log)
		default:
		}
		if svc := status(bin, dir); svc["imap"] != "" {
			nd.services = svc
			break
		}
		if time.Now().After(deadline) {
			nd.stop()
			return nil, fmt.Errorf("node %s did not start in 30 s; see %s", name, nd.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	logged, _ := os.ReadFile(nd.log)
	m := regexp.MustCompile(`password (\S+)`).FindSubmatch(logged)
	if m == nil {
		nd.stop()
		return nil, fmt.Errorf("node %s printed no mail password", name)
	}
	nd.password = string(m[1])
	return nd, nil
}

// status is the services of the node on dir, by name; nil if it does not
// answer.
func status(bin, dir string) map[string]string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "status", "--data", dir, "--json").Output()
	if err != nil {
		return nil
	}
	var st struct {
		Services []struct{ Name, Address string }
	}
	if json.Unmarshal(out, &st) != nil {
		return nil
	}
	m := map[string]string{}
	for _, s := range st.Services {
		m[s.Name] = s.Address
	}
	return m
}

func (nd *node) stop() {
	nd.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-nd.exited:
	case <-time.After(10 * time.Second):
		nd.cmd.Process.Kill()
		<-nd.exited
	}
}

// submitter keeps one authenticated submission session open.
type submitter struct {
	c        *smtp.Client
	conn     net.Conn
	from, to string
	body     string
}

func newSubmitter(addr, user, pass, from, to string, size int) (*submitter, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	c, err := smtp.NewClientStartTLS(conn, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		conn.Close()
		return nil, err
	}
	if err := c.Auth(sasl.NewPlainClient("", user, pass)); err != nil {
		c.Close()
		return nil, err
	}
	line := strings.Repeat("All work and no play makes a fast mail queue. ", 2)[:76] + "\r\n"
	body := strings.Repeat(line, size/len(line)+1)[:size]
	return &submitter{c: c, conn: conn, from: from, to: to, body: body}, nil
}

func (s *submitter) send(i int) error {
	s.conn.SetDeadline(time.Now().Add(30 * time.Second))
	msg := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: e2e %d\r\nMessage-ID: <e2e-%d-%d@bench>\r\n\r\n%s\r\n",
		s.from, s.to, i, i, time.Now().UnixNano(), s.body)
	return s.c.SendMail(s.from, []string{s.to}, strings.NewReader(msg))
}

func (s *submitter) close() { s.c.Quit(); s.c.Close() }

// idler is an IMAP client in IDLE on INBOX, noting each EXISTS.
type idler struct {
	c      *imapclient.Client
	cmd    *imapclient.IdleCommand
	exists chan uint32
}

func newIdler(addr, user, pass string, messages int) (*idler, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	exists := make(chan uint32, messages+16) // never full: the handler must not block
	c, err := imapclient.NewStartTLS(conn, &imapclient.Options{
		TLSConfig: &tls.Config{InsecureSkipVerify: true},
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				exists <- *d.NumMessages
			}
		}},
	})
	if err != nil {
		conn.Close()
		return nil, err
	}
	if err := c.Login(user, pass).Wait(); err != nil {
		c.Close()
		return nil, err
	}
	sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		c.Close()
		return nil, err
	}
	if sel.NumMessages != 0 {
		c.Close()
		return nil, fmt.Errorf("INBOX holds %d messages, want none", sel.NumMessages)
	}
	cmd, err := c.Idle()
	if err != nil {
		c.Close()
		return nil, err
	}
	return &idler{c: c, cmd: cmd, exists: exists}, nil
}

// waitFor waits until the server says INBOX holds n messages.
func (d *idler) waitFor(n uint32, deadline time.Time) error {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	for {
		select {
		case got := <-d.exists:
			if got >= n {
				return nil
			}
		case <-t.C:
			return errors.New("no EXISTS in time")
		}
	}
}

func (d *idler) close() {
	d.cmd.Close()
	d.c.Logout().Wait()
	d.c.Close()
}
