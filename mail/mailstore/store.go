package mailstore

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/shoal-p2p/shoal/storage"
	"golang.org/x/crypto/bcrypt"
)

// Errors callers check with errors.Is.
var (
	ErrBadCredentials = errors.New("mailstore: bad user name or password")
	ErrNoUser         = errors.New("mailstore: no such user")
	ErrUserExists     = errors.New("mailstore: user already exists")
	ErrNoFolder       = errors.New("mailstore: no such folder")
	ErrFolderExists   = errors.New("mailstore: folder already exists")
	ErrBadInput       = errors.New("mailstore: bad input")
)

// opError is err from the operation op (a format with args), under one
// "mailstore:" prefix however deep the wrapping: the sentinels above carry
// the prefix too, and "mailstore: add user bob: mailstore: user already
// exists" said it twice.
func opError(err error, op string, args ...any) error {
	return &storeError{op: fmt.Sprintf(op, args...), err: err}
}

type storeError struct {
	op  string
	err error
}

func (e *storeError) Error() string {
	return "mailstore: " + e.op + ": " + strings.TrimPrefix(e.err.Error(), "mailstore: ")
}

func (e *storeError) Unwrap() error { return e.err }

// Bucket names. Users are typed JSON records; each user's folders and
// messages live in a nested bucket of boxBucket named after the user.
var (
	usersBucket  = storage.NewBucket[userRecord]("mail.users")
	boxBucket    = []byte("mail.box")
	bodiesBucket = []byte("mail.bodies")
	refsBucket   = []byte("mail.refs")
	metaBucket   = []byte("mail.meta")
)

// Keys inside a user's bucket.
var (
	foldersKey   = []byte("folders")    // name -> folderRecord
	dedupKey     = []byte("dedup")      // Message-ID or body hash -> dedupRecord
	dedupTimeKey = []byte("dedup-time") // 8-byte unix nanos + id -> empty, for pruning
	folderSeqKey = []byte("folder-seq") // last folder ID
)

const component = "mailstore"

var migrations = []storage.Migration{{
	Version: 1,
	Name:    "users, mailboxes and bodies",
	Apply: func(tx *storage.Tx) error {
		for _, b := range [][]byte{[]byte(usersBucket.Name()), boxBucket, bodiesBucket, refsBucket, metaBucket} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	},
}}

// Options tunes a Store; zero values take the defaults.
type Options struct {
	// PasswordCost is the bcrypt cost of new password hashes (default
	// bcrypt.DefaultCost). Tests lower it to bcrypt.MinCost.
	PasswordCost int
	// DedupWindow is how long Deliver remembers a Message-ID (default 24h).
	DedupWindow time.Duration
	// MaxMessageBytes bounds one message (default 50 MiB).
	MaxMessageBytes int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Store is the users and mailboxes of one node. It is safe for concurrent use.
type Store struct {
	db   *storage.DB
	opts Options

	// wmu orders commits with their notifications, so subscribers see the
	// changes in commit order.
	wmu  sync.Mutex
	subs map[folderKey]map[*Subscription]struct{}

	dummyHash []byte // compared against for unknown users, to even out timing
}

type folderKey struct {
	user string
	id   uint32
}

// Open brings the store's schema up to date in db and returns the store.
func Open(db *storage.DB, opts Options) (*Store, error) {
	if opts.PasswordCost == 0 {
		opts.PasswordCost = bcrypt.DefaultCost
	}
	if opts.PasswordCost < bcrypt.MinCost || opts.PasswordCost > bcrypt.MaxCost {
		return nil, fmt.Errorf("%w: password cost %d outside %d..%d", ErrBadInput, opts.PasswordCost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	if opts.DedupWindow <= 0 {
		opts.DedupWindow = 24 * time.Hour
	}
	if opts.MaxMessageBytes <= 0 {
		opts.MaxMessageBytes = 50 << 20
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := db.Migrate(component, migrations); err != nil {
		return nil, opError(err, "open")
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte("not a password of anyone"), opts.PasswordCost)
	if err != nil {
		return nil, opError(err, "open")
	}
	return &Store{db: db, opts: opts, subs: map[folderKey]map[*Subscription]struct{}{}, dummyHash: dummy}, nil
}

// ChangeKind says what happened to a message.
type ChangeKind int

const (
	// MessageAdded: a message with UID appeared (deliver, append, copy, move).
	MessageAdded ChangeKind = iota + 1
	// FlagsChanged: the message's flags are now Flags.
	FlagsChanged
	// MessageExpunged: the message with UID is gone.
	MessageExpunged
	// FolderDeleted: the folder itself is gone (after the expunge of each
	// of its messages).
	FolderDeleted
	// FolderRenamed: the folder is now called Name.
	FolderRenamed
)

// Change is one change to a folder, told to its subscribers after commit.
type Change struct {
	Kind  ChangeKind
	UID   uint32
	Flags []string
	Name  string // FolderRenamed
	// Origin is the value the changing call's ctx carried (WithOrigin),
	// so a session can tell its own changes from others'.
	Origin any
}

type originKey struct{}

// WithOrigin marks the changes made with ctx as coming from origin.
func WithOrigin(ctx context.Context, origin any) context.Context {
	return context.WithValue(ctx, originKey{}, origin)
}

// Subscription is a live view of one folder: the UIDs it had when it was
// made, then every change through its function.
type Subscription struct {
	// UIDs are the folder's messages, ascending, when the subscription
	// began; the first change told comes after them.
	UIDs        []uint32
	UIDValidity uint32
	UIDNext     uint32

	store *Store
	key   folderKey
	fn    func(Change)
	once  sync.Once
}

// Close ends the subscription; fn is not called after Close returns.
func (sub *Subscription) Close() {
	sub.once.Do(func() {
		s := sub.store
		s.wmu.Lock()
		defer s.wmu.Unlock()
		if m := s.subs[sub.key]; m != nil {
			delete(m, sub)
			if len(m) == 0 {
				delete(s.subs, sub.key)
			}
		}
	})
}

// Subscribe begins a live view of folder. fn is called for every change
// committed after the snapshot in sub.UIDs, in commit order, from the
// goroutine that made the change, while the store holds its write lock: it
// must be quick and must not call back into the Store.
func (s *Store) Subscribe(ctx context.Context, user, folder string, fn func(Change)) (*Subscription, error) {
	user, err := normUser(user)
	if err != nil {
		return nil, err
	}
	if fn == nil {
		return nil, fmt.Errorf("%w: nil change function", ErrBadInput)
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var sub *Subscription
	err = s.db.View(func(tx *storage.Tx) error {
		ub, f, err := getFolder(tx, user, folder)
		if err != nil {
			return err
		}
		sub = &Subscription{store: s, key: folderKey{user, f.ID}, fn: fn, UIDValidity: f.UIDValidity, UIDNext: f.UIDNext}
		if mb := msgBucket(ub, f.ID); mb != nil {
			c := mb.Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				sub.UIDs = append(sub.UIDs, binary.BigEndian.Uint32(k))
			}
		}
		return nil
	})
	if err != nil {
		return nil, opError(err, "subscribe %s/%s", user, folder)
	}
	m := s.subs[sub.key]
	if m == nil {
		m = map[*Subscription]struct{}{}
		s.subs[sub.key] = m
	}
	m[sub] = struct{}{}
	return sub, nil
}

// changes collects the changes of one transaction.
type changes struct {
	list []keyedChange
}

type keyedChange struct {
	key folderKey
	Change
}

func (c *changes) add(user string, folderID uint32, ch Change) {
	c.list = append(c.list, keyedChange{folderKey{user, folderID}, ch})
}

// write runs fn in one read-write transaction and, once it has committed,
// tells the subscribers what changed.
func (s *Store) write(ctx context.Context, fn func(tx *storage.Tx, ch *changes) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var ch changes
	err := s.db.Update(func(tx *storage.Tx) error {
		ch.list = ch.list[:0]
		return fn(tx, &ch)
	})
	if err != nil {
		return err
	}
	origin := ctx.Value(originKey{})
	for _, c := range ch.list {
		c.Origin = origin
		for sub := range s.subs[c.key] {
			sub.fn(c.Change)
		}
	}
	return nil
}
