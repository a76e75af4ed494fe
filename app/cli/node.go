package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"text/tabwriter"
	"time"

	"github.com/shoal-p2p/shoal/node"
	"github.com/shoal-p2p/shoal/storage"
)

// NodeFlags are the flags of the commands that start a node; each one given
// overrides the node's shoal.toml.
type NodeFlags struct {
	Name           *string  `placeholder:"NAME" help:"The node's name in the group (NAME.shoal.)."`
	Bind           *string  `placeholder:"IP" help:"IP address the peer-facing services listen on (default 127.0.0.1)."`
	UI             *string  `name:"ui" placeholder:"HOST:PORT" help:"Address of the web client and control API (default 127.0.0.1:7480)."`
	Network        *string  `placeholder:"NAME" help:"The group to belong to (default shoal)."`
	Join           []string `placeholder:"HOST:PORT" sep:"none" help:"A member's peer API to join through (repeatable)."`
	PeerPort       *int     `placeholder:"N" help:"Port of the peer API and gateway (0 = a free one)."`
	BitTorrentPort *int     `name:"bittorrent-port" placeholder:"N" help:"Port of BitTorrent and the DHT (0 = a free one)."`
	DNSPort        *int     `name:"dns-port" placeholder:"N" help:"Port of the DNS server, UDP and TCP (0 = a free one)."`
	SMTPPort       *int     `name:"smtp-port" placeholder:"N" help:"Port of the SMTP relay between nodes (0 = a free one)."`
	SubmissionPort *int     `name:"submission-port" placeholder:"N" help:"Port of mail submission for mail programs (0 = a free one)."`
	IMAPPort       *int     `name:"imap-port" placeholder:"N" help:"Port of IMAP (0 = a free one)."`
	POP3Port       *int     `name:"pop3-port" placeholder:"N" help:"Port of POP3 (0 = a free one)."`
	FTPPort        *int     `name:"ftp-port" placeholder:"N" help:"Port of FTP, the library read-only (0 = a free one)."`
	ProxyPort      *int     `name:"proxy-port" placeholder:"N" help:"Port of the caching HTTP proxy (0 = a free one)."`
	LogLevel       *string  `placeholder:"LEVEL" help:"debug, info, warn or error."`
}

// options turns the flags into node options.
func (f *NodeFlags) options(g *Globals) node.Options {
	return node.Options{
		DataDir: g.Data,
		Stderr:  g.stderr,
		Override: func(c *node.Config) {
			setIf(&c.Name, f.Name)
			setIf(&c.Bind, f.Bind)
			setIf(&c.UI.Address, f.UI)
			setIf(&c.Network, f.Network)
			if f.Join != nil {
				c.Join = f.Join
			}
			setIf(&c.Ports.Peer, f.PeerPort)
			setIf(&c.Ports.BitTorrent, f.BitTorrentPort)
			setIf(&c.Ports.DNS, f.DNSPort)
			setIf(&c.Ports.SMTP, f.SMTPPort)
			setIf(&c.Ports.Submission, f.SubmissionPort)
			setIf(&c.Ports.IMAP, f.IMAPPort)
			setIf(&c.Ports.POP3, f.POP3Port)
			setIf(&c.Ports.FTP, f.FTPPort)
			setIf(&c.Ports.Proxy, f.ProxyPort)
			setIf(&c.Log.Level, f.LogLevel)
		},
	}
}

func setIf[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// windowCmd is plain `shoal`: main shows the window when there is a
// display (see WantsWindow); Run is the headless case.
type windowCmd struct{ NodeFlags }

func (c *windowCmd) Run(ctx context.Context, g *Globals) error {
	return runHeadless(ctx, g, c.options(g))
}

type nodeCmd struct{ NodeFlags }

func (c *nodeCmd) Run(ctx context.Context, g *Globals) error {
	return runHeadless(ctx, g, c.options(g))
}

// runHeadless runs a node until ctx ends, starting it again when it asks
// (a network created or joined).
func runHeadless(ctx context.Context, g *Globals, opts node.Options) error {
	opts.Restarts = true
	for first := true; ; first = false {
		n, err := node.Start(ctx, opts)
		if err != nil {
			return err
		}
		if first {
			fmt.Fprintf(g.stdout, "Shoal node %s is running headless; open the web client with this one-time link:\n%s\n",
				n.Config().Name, n.LoginURL())
			Welcome(g.stdout, n)
		} else {
			fmt.Fprintf(g.stdout, "Shoal node %s started again in the network %s; log in again with:\n%s\n",
				n.Config().Name, n.Config().Network, n.LoginURL())
		}
		select {
		case <-ctx.Done():
			return n.Close()
		case <-n.RestartWanted():
			if err := n.Close(); err != nil {
				return err
			}
		}
	}
}

func (versionCmd) Run(g *Globals) error {
	fmt.Fprintf(g.stdout, "shoal %s (%s %s/%s)\n", node.Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}

type statusCmd struct{}

func (statusCmd) Run(ctx context.Context, g *Globals) error {
	c, err := g.dial()
	if err != nil {
		return err
	}
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodGet, "/api/v1/status", &raw); err != nil {
		return err
	}
	if g.JSON {
		fmt.Fprintf(g.stdout, "%s\n", raw)
		return nil
	}
	var s node.Status
	if err := json.Unmarshal(raw, &s); err != nil {
		return fmt.Errorf("bad status from the node: %w", err)
	}
	tw := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "name\t%s\nid\t%s\nnetwork\t%s (%s)\nversion\t%s\nuptime\t%s\ndata\t%s\n",
		s.Name, s.ID, s.Network, s.NetworkKind, s.Version, (time.Duration(s.UptimeS) * time.Second).String(), s.DataDir)
	for _, sv := range s.Services {
		fmt.Fprintf(tw, "%s\t%s/%s\t%s\n", sv.Name, sv.Address, sv.Proto, sv.URL)
	}
	return tw.Flush()
}

type loginCmd struct{}

func (loginCmd) Run(ctx context.Context, g *Globals) error {
	c, err := g.dial()
	if err != nil {
		return err
	}
	var out struct{ URL string }
	if err := c.do(ctx, http.MethodPost, "/api/v1/login-links", &out); err != nil {
		return err
	}
	fmt.Fprintln(g.stdout, out.URL)
	return nil
}

type backupCmd struct {
	File string `arg:"" placeholder:"FILE" predictor:"file" help:"Where to write the copy; it must not exist."`
}

// Run asks the running node for a snapshot, or reads the database directly
// when no node runs on the data dir.
func (b *backupCmd) Run(ctx context.Context, g *Globals) error {
	if _, err := os.Stat(b.File); err == nil {
		return fmt.Errorf("%s exists; remove it or choose another file", b.File)
	}
	c, err := g.dial()
	if err != nil && g.API == "" {
		db, oerr := storage.Open(filepath.Join(g.Data, node.DatabaseFile))
		if oerr != nil {
			return fmt.Errorf("backup: %w", oerr)
		}
		defer db.Close()
		n, err := db.BackupFile(b.File)
		if err != nil {
			return err
		}
		fmt.Fprintf(g.stdout, "wrote %s (%d bytes)\n", b.File, n)
		return nil
	}
	if err != nil {
		return err
	}
	resp, err := c.send(ctx, http.MethodGet, "/api/v1/backup", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	tmp := b.File + ".part"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	n, err := io.Copy(f, resp.Body)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, b.File)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(g.stdout, "wrote %s (%d bytes)\n", b.File, n)
	return nil
}

// Welcome tells what a node made on its first start that is shown only
// once: the first mail user's password.
func Welcome(w io.Writer, n *node.Node) {
	if m := n.Mail(); m != nil && m.FirstPassword != "" {
		fmt.Fprintf(w, "Mail: your address is %s@%s, password %s\n(shown this once; 'shoal mail user passwd %s' makes a new one)\n",
			m.FirstUser, m.Domain, m.FirstPassword, m.FirstUser)
	}
}
