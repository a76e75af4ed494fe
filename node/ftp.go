package node

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/shoal-p2p/shoal/cdn/engine"
	"github.com/shoal-p2p/shoal/cdn/ftp"
	"github.com/shoal-p2p/shoal/cdn/membership"
	"github.com/shoal-p2p/shoal/mail/mailstore"
)

// startFTP serves the library over FTP on the bind address, read-only,
// with the mail users' logins, and advertises the port as "ftp".
func (n *Node) startFTP(ctx context.Context) error {
	if !n.cfg.FTP.Enabled {
		return nil
	}
	passive, err := n.cfg.FTP.passiveRange()
	if err != nil {
		return fmt.Errorf("node: ftp: %w", err)
	}
	log := n.log.With("part", "ftp")
	bind := netip.MustParseAddr(n.cfg.Bind)
	self, _ := n.cdn.Members.Member(n.cdn.Members.ID())
	host := strings.ToLower(self.DisplayName + "." + n.cfg.DNS.Zone)
	cert, err := n.id.Certificate([]string{host}, []net.IP{net.IP(bind.AsSlice())})
	if err != nil {
		return fmt.Errorf("node: ftp: %w", err)
	}
	opts := ftp.Options{
		Library:      library{n.cdn.Engine},
		Anonymous:    n.cfg.FTP.Anonymous,
		TLS:          &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		PassivePorts: passive,
		Throttle:     mailstore.NewLoginThrottle(500*time.Millisecond, 8*time.Second),
		Log:          log,
	}
	if n.mail != nil {
		// The mail users' logins, slowed down by the throttle IMAP and POP3
		// share, so that switching to FTP does not reset a guesser's count.
		opts.Auth, opts.Throttle = n.mail.Store, n.mail.throttle
	}
	srv, err := ftp.New(opts)
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	addr := netip.AddrPortFrom(bind, uint16(n.cfg.Ports.FTP)).String()
	ln, err := listen("ftp", addr, "--ftp-port or ports.ftp in shoal.toml")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ctx, ln); err != nil {
			log.Warn("ftp server stopped", "err", err)
		}
	}()
	n.services = append(n.services, service{"ftp", func(stopCtx context.Context) error {
		cancel()
		err := srv.Close()
		select {
		case <-done:
		case <-stopCtx.Done():
			return fmt.Errorf("node: ftp: %w", stopCtx.Err())
		}
		return err
	}})
	port := ln.Addr().(*net.TCPAddr).Port
	if _, err := n.cdn.Members.UpdateSelf(func(r *membership.Record) {
		r.Ports["ftp"] = port
		if !slices.Contains(r.Services, "ftp") {
			r.Services = append(r.Services, "ftp")
		}
	}); err != nil {
		return fmt.Errorf("node: ftp: %w", err)
	}
	return nil
}

// library shows the engine's items whose data is whole on this node.
type library struct{ e *engine.Engine }

func (l library) Items(context.Context) ([]ftp.Item, error) {
	var out []ftp.Item
	for _, st := range l.e.List() {
		if st.State != engine.StateSeeding || st.Path == "" || st.Kind == "" {
			continue
		}
		it := ftp.Item{Name: st.Name, InfoHash: st.InfoHash, Path: st.Path, Folder: st.Kind == engine.KindFolder, Time: st.Time}
		for _, f := range st.Files {
			it.Files = append(it.Files, ftp.File{Path: f.Path, Size: f.Size})
		}
		out = append(out, it)
	}
	return out, nil
}
