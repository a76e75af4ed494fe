package membership

import "sync"

// Subscribe calls fn for every change of the table, in order, from a
// goroutine of its own: a slow subscriber delays only itself and never the
// table, and misses nothing. cancel stops the calls (fn may be running when
// it returns); Close stops all subscribers and waits for them.
func (t *Table) Subscribe(fn func(Change)) (cancel func()) {
	return t.subs.add(fn)
}

type subscribers struct {
	mu     sync.Mutex
	set    map[*subscriber]struct{}
	wg     sync.WaitGroup
	closed bool
}

type subscriber struct {
	fn    func(Change)
	mu    sync.Mutex
	queue []Change
	wake  chan struct{}
	done  chan struct{}
	once  sync.Once
}

func (ss *subscribers) add(fn func(Change)) func() {
	s := &subscriber{fn: fn, wake: make(chan struct{}, 1), done: make(chan struct{})}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.closed {
		return func() {}
	}
	if ss.set == nil {
		ss.set = make(map[*subscriber]struct{})
	}
	ss.set[s] = struct{}{}
	ss.wg.Add(1)
	go func() {
		defer ss.wg.Done()
		s.run()
	}()
	return func() {
		ss.mu.Lock()
		delete(ss.set, s)
		ss.mu.Unlock()
		s.stop()
	}
}

func (ss *subscribers) send(cs []Change) {
	if len(cs) == 0 {
		return
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for s := range ss.set {
		s.mu.Lock()
		s.queue = append(s.queue, cs...)
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

func (ss *subscribers) closeAll() {
	ss.mu.Lock()
	ss.closed = true
	for s := range ss.set {
		s.stop()
	}
	ss.set = nil
	ss.mu.Unlock()
	ss.wg.Wait()
}

func (s *subscriber) stop() { s.once.Do(func() { close(s.done) }) }

func (s *subscriber) run() {
	for {
		select {
		case <-s.done:
			return
		case <-s.wake:
		}
		for {
			s.mu.Lock()
			batch := s.queue
			s.queue = nil
			s.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			for _, c := range batch {
				select {
				case <-s.done:
					return
				default:
				}
				s.fn(c)
			}
		}
	}
}

// changeSet collects the changes of one operation on the table.
type changeSet struct {
	order []noted
	gone  map[string]Member
}

type noted struct {
	kind ChangeKind
	id   string
}

func (cs *changeSet) note(k ChangeKind, id string) { cs.order = append(cs.order, noted{k, id}) }

func (cs *changeSet) removed(m Member) {
	if cs.gone == nil {
		cs.gone = make(map[string]Member)
	}
	cs.gone[m.Record.ID] = m
	cs.note(Removed, m.Record.ID)
}

// publish resolves names after the changes of cs and hands them, with
// the members as they are now, to the subscribers. Called with t.mu held,
// so subscribers see changes in the order they happened.
func (t *Table) publish(cs *changeSet) {
	if len(cs.order) == 0 {
		return
	}
	touched := make(map[string]bool)
	for _, n := range cs.order {
		touched[n.id] = true
	}
	for _, id := range t.recomputeNames() {
		if !touched[id] {
			cs.note(Updated, id)
		}
	}
	out := make([]Change, 0, len(cs.order))
	for _, n := range cs.order {
		var m Member
		switch {
		case n.kind == Removed:
			m = cs.gone[n.id]
		case n.id == t.self.ID:
			m = t.selfMember()
		default:
			e, ok := t.members[n.id]
			if !ok {
				continue
			}
			m = t.snapshot(e)
		}
		out = append(out, Change{Kind: n.kind, Member: m})
	}
	t.subs.send(out)
}
