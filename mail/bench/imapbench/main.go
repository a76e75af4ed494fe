// Command imapbench measures an IMAP server the way a mail client loads a
// big INBOX: FETCH 1:* (ENVELOPE FLAGS), and a UID SEARCH BODY over every
// message. It also fills a server with the same generated messages (APPEND)
// and can run Shoal's own imapd on a fresh database, so that Shoal and a
// reference server (Dovecot) are measured with the same client on the same
// messages. mail/bench/imap.sh drives it.
//
//	imapbench -serve DB -listen 127.0.0.1:17143 -user U -pass P
//	imapbench -addr 127.0.0.1:17143 -user U -pass P -populate 10000
//	imapbench -addr shoal=127.0.0.1:17143,dovecot=127.0.0.1:17144 -runs 5
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/shoal-p2p/shoal/mail/imapd"
	"github.com/shoal-p2p/shoal/mail/mailstore"
	"github.com/shoal-p2p/shoal/storage"
)

func main() {
	serve := flag.String("serve", "", "run Shoal's imapd on a database at this path")
	listen := flag.String("listen", "127.0.0.1:17143", "address for -serve")
	addr := flag.String("addr", "127.0.0.1:17143", `IMAP server to fill, or servers to measure in turn ("name=host:port,...")`)
	user := flag.String("user", "bench", "user")
	pass := flag.String("pass", "bench-password", "password")
	populate := flag.Int("populate", 0, "append this many generated messages to INBOX")
	runs := flag.Int("runs", 5, "measurements of each operation")
	warmup := flag.Int("warmup", 1, "runs before the measured ones, not counted (caches, indexes)")
	cpuprofile := flag.String("cpuprofile", "", "with -serve: write a CPU profile of the server here")
	needle := flag.String("needle", "quokka", "word searched for in bodies (in 1% of the messages)")
	flag.Parse()
	var err error
	switch {
	case *serve != "":
		if *cpuprofile != "" {
			f, perr := os.Create(*cpuprofile)
			if perr == nil {
				pprof.StartCPUProfile(f)
				defer pprof.StopCPUProfile()
			}
		}
		err = serveShoal(*serve, *listen, *user, *pass)
	case *populate > 0:
		err = fill(*addr, *user, *pass, *populate, *needle)
	default:
		err = measure(*addr, *user, *pass, *warmup, *runs, *needle)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "imapbench:", err)
		os.Exit(1)
	}
}

func serveShoal(path, listen, user, pass string) error {
	db, err := storage.Open(path)
	if err != nil {
		return err
	}
	defer db.Close()
	st, err := mailstore.Open(db, mailstore.Options{})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if ok, _ := st.HasUser(ctx, user); !ok {
		if err := st.AddUser(ctx, user, pass); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := imapd.New(st, imapd.Options{InsecureAuth: true, Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	return srv.Serve(ctx, ln)
}

func login(addr, user, pass string) (*imapclient.Client, error) {
	var c *imapclient.Client
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err = imapclient.DialInsecure(addr, nil); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return nil, err
	}
	if err := c.Login(user, pass).Wait(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

var words = strings.Fields(`the of and to in is that for it as was with be by on not he this are or his
from at which but have an they you were her she there been one all we their has would when if so no
node peer swarm piece tracker mailbox folder message flag server client network group content stream
segment buffer manifest rendition resolver zone record cache proxy site gateway replica catalog`)

// generate makes message i: the same bytes for every run and server.
func generate(i int, needle string) string {
	r := rand.New(rand.NewPCG(uint64(i), 42))
	var body strings.Builder
	lines := 20 + r.IntN(60)
	for l := 0; l < lines; l++ {
		for w := 0; w < 8+r.IntN(6); w++ {
			if w > 0 {
				body.WriteByte(' ')
			}
			body.WriteString(words[r.IntN(len(words))])
		}
		if l == lines/2 && i%100 == 7 {
			body.WriteString(" " + needle)
		}
		body.WriteString("\r\n")
	}
	subject := strings.Join([]string{words[r.IntN(len(words))], words[r.IntN(len(words))], words[r.IntN(len(words))]}, " ")
	date := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * 37 * time.Minute)
	return fmt.Sprintf("From: Peer %d <peer%d@node%d.shoal>\r\nTo: Bench <bench@one.shoal>\r\nSubject: %s %d\r\nDate: %s\r\nMessage-ID: <%d.bench@node%d.shoal>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n%s",
		i%50, i%50, i%7, subject, i, date.Format(time.RFC1123Z), i, i%7, body.String())
}

func fill(addr, user, pass string, n int, needle string) error {
	c, err := login(addr, user, pass)
	if err != nil {
		return err
	}
	defer c.Close()
	start := time.Now()
	for i := 0; i < n; i++ {
		raw := generate(i, needle)
		var flags []imap.Flag
		if i%3 == 0 {
			flags = []imap.Flag{imap.FlagSeen}
		}
		cmd := c.Append("INBOX", int64(len(raw)), &imap.AppendOptions{Flags: flags})
		if _, err := cmd.Write([]byte(raw)); err != nil {
			return err
		}
		if err := cmd.Close(); err != nil {
			return err
		}
		if _, err := cmd.Wait(); err != nil {
			return fmt.Errorf("append %d: %w", i, err)
		}
	}
	fmt.Printf("appended %d messages in %v (%.0f/s)\n", n, time.Since(start).Round(time.Millisecond), float64(n)/time.Since(start).Seconds())
	return c.Logout().Wait()
}

// measure runs the fetch and the search against each server in turn, so
// that a busy machine's slow moments fall on all of them alike. addrs is
// "name=host:port,name=host:port" (or one bare host:port).
func measure(addrs, user, pass string, warmup, runs int, needle string) error {
	type server struct {
		name, addr      string
		fetchT, searchT []time.Duration
		nFetch, nFound  int
	}
	var servers []*server
	for _, a := range strings.Split(addrs, ",") {
		name, addr, ok := strings.Cut(a, "=")
		if !ok {
			name, addr = a, a
		}
		servers = append(servers, &server{name: name, addr: addr})
	}
	for r := 0; r < warmup+runs; r++ {
		for _, sv := range servers {
			f, s, nf, ns, err := once(sv.addr, user, pass, needle)
			if err != nil {
				return fmt.Errorf("%s: %w", sv.name, err)
			}
			if r >= warmup {
				sv.fetchT, sv.searchT = append(sv.fetchT, f), append(sv.searchT, s)
				sv.nFetch, sv.nFound = nf, ns
			}
		}
	}
	report := func(name, op string, ts []time.Duration, n int) {
		s := slices.Clone(ts)
		slices.Sort(s)
		fmt.Printf("%-8s %-28s n=%-6d median %8.1f ms  range %.1f-%.1f ms  (%d runs)\n", name, op, n,
			ms(s[len(s)/2]), ms(s[0]), ms(s[len(s)-1]), len(s))
	}
	for _, sv := range servers {
		report(sv.name, "FETCH 1:* (ENVELOPE FLAGS)", sv.fetchT, sv.nFetch)
	}
	for _, sv := range servers {
		report(sv.name, "UID SEARCH BODY "+needle, sv.searchT, sv.nFound)
	}
	return nil
}

// once opens the INBOX on a fresh connection, as a client starting up,
// and times one FETCH 1:* (ENVELOPE FLAGS) and one UID SEARCH BODY.
func once(addr, user, pass, needle string) (fetch, search time.Duration, nFetch, nFound int, err error) {
	c, err := login(addr, user, pass)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	defer c.Close()
	sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return 0, 0, 0, 0, err
	}
	if sel.NumMessages == 0 {
		return 0, 0, 0, 0, errors.New("INBOX is empty; -populate first")
	}
	t0 := time.Now()
	msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{Envelope: true, Flags: true}).Collect()
	fetch = time.Since(t0)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	t0 = time.Now()
	sd, err := c.UIDSearch(&imap.SearchCriteria{Body: []string{needle}}, nil).Wait()
	search = time.Since(t0)
	if err != nil {
		return 0, 0, 0, 0, err
	}
	c.Logout().Wait()
	return fetch, search, len(msgs), len(sd.AllUIDs()), nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
