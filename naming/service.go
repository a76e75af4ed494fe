package naming

import (
	"context"
	"net/netip"
)

// Service is a node's DNS built from one Config: the zone, the chain
// zone → recursion guard → cache → forwarder or iterator, the server that
// puts the chain on the network and the in-process resolver.
type Service struct {
	Zone     *Zone
	Cache    *Cache
	Resolver *Resolver
	Server   *Server

	chain     Handler
	forwarder *Forwarder // nil in iterative mode
}

// New builds the service; members and content come from the node (content
// may be nil). Nothing listens before Start.
func New(cfg Config, members Members, content ContentLocator) (*Service, error) {
	cfg = cfg.withDefaults()
	if err := cfg.check(); err != nil {
		return nil, err
	}
	s := &Service{Cache: NewCache(cfg)}
	switch cfg.Mode {
	case ModeIterate:
		it, err := NewIterator(cfg)
		if err != nil {
			return nil, err
		}
		s.Cache.Next = it
	default:
		f, err := NewForwarder(cfg)
		if err != nil {
			return nil, err
		}
		s.forwarder = f
		s.Cache.Next = f
	}
	zone, err := NewZone(cfg, members, content)
	if err != nil {
		return nil, err
	}
	zone.Next = &RecursionGuard{Allow: cfg.AllowRecursion, Next: s.Cache}
	s.Zone = zone
	s.chain = zone
	s.Resolver = NewResolver(zone)
	s.Server = NewServer(cfg, zone)
	return s, nil
}

// Handler is the head of the chain.
func (s *Service) Handler() Handler { return s.chain }

// Start starts the server; it returns once UDP and TCP serve.
func (s *Service) Start(ctx context.Context) error {
	if err := s.Server.Start(ctx); err != nil {
		return err
	}
	if s.forwarder != nil {
		s.forwarder.exclude(s.Server.Addr())
	}
	return nil
}

// Addr is the server's bound address.
func (s *Service) Addr() netip.AddrPort { return s.Server.Addr() }

// Close stops the server; it may be called more than once.
func (s *Service) Close() error { return s.Server.Close() }

// Serve runs the server until ctx is cancelled.
func (s *Service) Serve(ctx context.Context) error {
	if err := s.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return s.Close()
}

// Query resolves name through the chain in process, with its path.
func (s *Service) Query(ctx context.Context, name string, qtype uint16) (Answer, error) {
	return s.Resolver.Query(ctx, name, qtype)
}
