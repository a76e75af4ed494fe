package mailstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/shoal-p2p/shoal/storage"
	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// Inbox is the one folder every user has and cannot delete or rename.
const Inbox = "INBOX"

// Delim separates the levels of a folder name.
const Delim = '/'

// SPECIAL-USE attributes (RFC 6154) of the standard folders.
const (
	UseSent   = `\Sent`
	UseDrafts = `\Drafts`
	UseTrash  = `\Trash`
	UseJunk   = `\Junk`
)

var standardFolders = []struct{ name, use string }{
	{Inbox, ""}, {"Sent", UseSent}, {"Drafts", UseDrafts}, {"Trash", UseTrash}, {"Junk", UseJunk},
}

type folderRecord struct {
	ID          uint32 `json:"id"`
	Name        string `json:"name"`
	UIDValidity uint32 `json:"uid_validity"`
	UIDNext     uint32 `json:"uid_next"`
	SpecialUse  string `json:"special_use,omitempty"`
	Subscribed  bool   `json:"subscribed"`
}

// Folder is a folder as the store lists it.
type Folder struct {
	Name        string
	SpecialUse  string // "" or one of UseSent, UseDrafts, UseTrash, UseJunk
	Subscribed  bool
	UIDValidity uint32
	UIDNext     uint32
}

// Status is a folder's counts, for IMAP STATUS.
type Status struct {
	Folder
	Messages uint32
	Unseen   uint32
	Deleted  uint32
	Size     int64
}

const maxFolderName = 255

// normFolder checks a folder name and spells INBOX in capitals whatever
// case it came in, as RFC 3501 says.
func normFolder(name string) (string, error) {
	if strings.EqualFold(name, Inbox) {
		return Inbox, nil
	}
	switch {
	case name == "" || len(name) > maxFolderName:
		return "", fmt.Errorf("%w: folder name must have 1 to %d bytes", ErrBadInput, maxFolderName)
	case !utf8.ValidString(name):
		return "", fmt.Errorf("%w: folder name %q is not UTF-8", ErrBadInput, name)
	case strings.ContainsAny(name, "*%\r\n\x00"):
		return "", fmt.Errorf("%w: folder name %q holds a wildcard or control character", ErrBadInput, name)
	case name[0] == Delim || name[len(name)-1] == Delim || strings.Contains(name, string([]rune{Delim, Delim})):
		return "", fmt.Errorf("%w: folder name %q has an empty level", ErrBadInput, name)
	case strings.HasPrefix(strings.ToUpper(name), Inbox+string(Delim)):
		return "", fmt.Errorf("%w: folder name %q: INBOX has no sub-folders here", ErrBadInput, name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return "", fmt.Errorf("%w: folder name %q holds a control character", ErrBadInput, name)
		}
	}
	return name, nil
}

func isBucketNotFound(err error) bool { return errors.Is(err, berrors.ErrBucketNotFound) }

func userBucket(tx *storage.Tx, user string) (*bbolt.Bucket, error) {
	ub := tx.Bucket(boxBucket).Bucket([]byte(user))
	if ub == nil {
		return nil, ErrNoUser
	}
	return ub, nil
}

func msgBucketName(id uint32) []byte {
	k := []byte("m....")
	binary.BigEndian.PutUint32(k[1:], id)
	return k
}

func msgBucket(ub *bbolt.Bucket, id uint32) *bbolt.Bucket { return ub.Bucket(msgBucketName(id)) }

func getFolder(tx *storage.Tx, user, name string) (*bbolt.Bucket, folderRecord, error) {
	var f folderRecord
	name, err := normFolder(name)
	if err != nil {
		return nil, f, err
	}
	ub, err := userBucket(tx, user)
	if err != nil {
		return nil, f, err
	}
	raw := ub.Bucket(foldersKey).Get([]byte(name))
	if raw == nil {
		return nil, f, fmt.Errorf("%w: %s", ErrNoFolder, name)
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, f, fmt.Errorf("decode folder %s: %w", name, err)
	}
	return ub, f, nil
}

func putFolder(ub *bbolt.Bucket, f folderRecord) error {
	raw, err := json.Marshal(f)
	if err != nil {
		return err
	}
	return ub.Bucket(foldersKey).Put([]byte(f.Name), raw)
}

func listFolders(tx *storage.Tx, user string) ([]folderRecord, error) {
	ub, err := userBucket(tx, user)
	if err != nil {
		return nil, err
	}
	var out []folderRecord
	err = ub.Bucket(foldersKey).ForEach(func(_, raw []byte) error {
		var f folderRecord
		if err := json.Unmarshal(raw, &f); err != nil {
			return err
		}
		out = append(out, f)
		return nil
	})
	return out, err
}

// nextUIDValidity hands out UIDVALIDITY values: the current time in seconds,
// or one more than the last one given if that is later, so a folder deleted
// and created again within a second still gets a new value.
func (s *Store) nextUIDValidity(tx *storage.Tx) (uint32, error) {
	mb := tx.Bucket(metaBucket)
	var last uint32
	if raw := mb.Get([]byte("uid-validity")); len(raw) == 4 {
		last = binary.BigEndian.Uint32(raw)
	}
	v := uint32(s.opts.Now().Unix())
	if v <= last {
		v = last + 1
	}
	var raw [4]byte
	binary.BigEndian.PutUint32(raw[:], v)
	return v, mb.Put([]byte("uid-validity"), raw[:])
}

func (s *Store) createFolder(tx *storage.Tx, user, name, use string) (folderRecord, error) {
	ub, err := userBucket(tx, user)
	if err != nil {
		return folderRecord{}, err
	}
	fb, err := ub.CreateBucketIfNotExists(foldersKey)
	if err != nil {
		return folderRecord{}, err
	}
	if fb.Get([]byte(name)) != nil {
		return folderRecord{}, fmt.Errorf("%w: %s", ErrFolderExists, name)
	}
	var id uint32 = 1
	if raw := ub.Get(folderSeqKey); len(raw) == 4 {
		id = binary.BigEndian.Uint32(raw) + 1
	}
	var raw [4]byte
	binary.BigEndian.PutUint32(raw[:], id)
	if err := ub.Put(folderSeqKey, raw[:]); err != nil {
		return folderRecord{}, err
	}
	uv, err := s.nextUIDValidity(tx)
	if err != nil {
		return folderRecord{}, err
	}
	f := folderRecord{ID: id, Name: name, UIDValidity: uv, UIDNext: 1, SpecialUse: use, Subscribed: true}
	if _, err := ub.CreateBucket(msgBucketName(id)); err != nil {
		return folderRecord{}, err
	}
	return f, putFolder(ub, f)
}

// CreateFolder makes a folder of user's own. Missing parent levels are
// created too, as RFC 3501 allows.
func (s *Store) CreateFolder(ctx context.Context, user, name string) error {
	u, err := normUser(user)
	if err != nil {
		return err
	}
	name, err = normFolder(name)
	if err != nil {
		return err
	}
	err = s.write(ctx, func(tx *storage.Tx, _ *changes) error {
		levels := strings.Split(name, string(Delim))
		for i := 1; i < len(levels); i++ {
			parent := strings.Join(levels[:i], string(Delim))
			if _, err := s.createFolder(tx, u, parent, ""); err != nil && !errors.Is(err, ErrFolderExists) {
				return err
			}
		}
		_, err := s.createFolder(tx, u, name, "")
		return err
	})
	if err != nil {
		return opError(err, "create folder %s/%s", u, name)
	}
	return nil
}

// RenameFolder renames a folder and its sub-folders, keeping their messages
// and UIDVALIDITY. INBOX cannot be renamed here.
func (s *Store) RenameFolder(ctx context.Context, user, from, to string) error {
	u, err := normUser(user)
	if err != nil {
		return err
	}
	if from, err = normFolder(from); err != nil {
		return err
	}
	if to, err = normFolder(to); err != nil {
		return err
	}
	if from == Inbox || to == Inbox {
		return fmt.Errorf("%w: INBOX cannot be renamed", ErrBadInput)
	}
	if strings.HasPrefix(to, from+string(Delim)) {
		return fmt.Errorf("%w: cannot move %s under itself", ErrBadInput, from)
	}
	err = s.write(ctx, func(tx *storage.Tx, ch *changes) error {
		ub, _, err := getFolder(tx, u, from)
		if err != nil {
			return err
		}
		if ub.Bucket(foldersKey).Get([]byte(to)) != nil {
			return fmt.Errorf("%w: %s", ErrFolderExists, to)
		}
		all, err := listFolders(tx, u)
		if err != nil {
			return err
		}
		moving := func(name string) bool { return name == from || strings.HasPrefix(name, from+string(Delim)) }
		for _, f := range all {
			if moving(f.Name) {
				if n := to + f.Name[len(from):]; ub.Bucket(foldersKey).Get([]byte(n)) != nil && !moving(n) {
					return fmt.Errorf("%w: %s", ErrFolderExists, n)
				}
			}
		}
		// Take the old names out first, so a name freed by one move can
		// be taken by another.
		for _, f := range all {
			if moving(f.Name) {
				if err := ub.Bucket(foldersKey).Delete([]byte(f.Name)); err != nil {
					return err
				}
			}
		}
		for _, f := range all {
			var newName string
			switch {
			case f.Name == from:
				newName = to
			case strings.HasPrefix(f.Name, from+string(Delim)):
				newName = to + f.Name[len(from):]
			default:
				continue
			}
			if len(newName) > maxFolderName {
				return fmt.Errorf("%w: %s would be too long", ErrBadInput, newName)
			}
			f.Name = newName
			if err := putFolder(ub, f); err != nil {
				return err
			}
			ch.add(u, f.ID, Change{Kind: FolderRenamed, Name: newName})
		}
		return nil
	})
	if err != nil {
		return opError(err, "rename folder %s/%s", u, from)
	}
	return nil
}

// DeleteFolder deletes a folder and its messages. INBOX cannot be deleted,
// nor a folder that still has sub-folders.
func (s *Store) DeleteFolder(ctx context.Context, user, name string) error {
	u, err := normUser(user)
	if err != nil {
		return err
	}
	if name, err = normFolder(name); err != nil {
		return err
	}
	if name == Inbox {
		return fmt.Errorf("%w: INBOX cannot be deleted", ErrBadInput)
	}
	err = s.write(ctx, func(tx *storage.Tx, ch *changes) error {
		ub, f, err := getFolder(tx, u, name)
		if err != nil {
			return err
		}
		c := ub.Bucket(foldersKey).Cursor()
		prefix := []byte(name + string(Delim))
		if k, _ := c.Seek(prefix); k != nil && strings.HasPrefix(string(k), string(prefix)) {
			return fmt.Errorf("%w: %s has sub-folders; delete them first", ErrBadInput, name)
		}
		return s.dropFolder(tx, ch, u, f)
	})
	if err != nil {
		return opError(err, "delete folder %s/%s", u, name)
	}
	return nil
}

// dropFolder removes a folder, its messages and their body references.
func (s *Store) dropFolder(tx *storage.Tx, ch *changes, user string, f folderRecord) error {
	ub, err := userBucket(tx, user)
	if err != nil {
		return err
	}
	if mb := msgBucket(ub, f.ID); mb != nil {
		err := mb.ForEach(func(k, raw []byte) error {
			var m msgRecord
			if err := m.decode(raw); err != nil {
				return err
			}
			ch.add(user, f.ID, Change{Kind: MessageExpunged, UID: m.UID})
			return unrefBody(tx, m.Body)
		})
		if err != nil {
			return err
		}
		if err := ub.DeleteBucket(msgBucketName(f.ID)); err != nil {
			return err
		}
	}
	ch.add(user, f.ID, Change{Kind: FolderDeleted})
	return ub.Bucket(foldersKey).Delete([]byte(f.Name))
}

// SetSubscribed marks a folder subscribed or not (IMAP SUBSCRIBE).
func (s *Store) SetSubscribed(ctx context.Context, user, name string, subscribed bool) error {
	u, err := normUser(user)
	if err != nil {
		return err
	}
	err = s.write(ctx, func(tx *storage.Tx, _ *changes) error {
		ub, f, err := getFolder(tx, u, name)
		if err != nil {
			return err
		}
		f.Subscribed = subscribed
		return putFolder(ub, f)
	})
	if err != nil {
		return opError(err, "subscribe %s/%s", u, name)
	}
	return nil
}

func (f folderRecord) public() Folder {
	return Folder{Name: f.Name, SpecialUse: f.SpecialUse, Subscribed: f.Subscribed, UIDValidity: f.UIDValidity, UIDNext: f.UIDNext}
}

// Folders lists user's folders by name, INBOX first.
func (s *Store) Folders(ctx context.Context, user string) ([]Folder, error) {
	u, err := normUser(user)
	if err != nil {
		return nil, err
	}
	var out []Folder
	err = s.db.View(func(tx *storage.Tx) error {
		all, err := listFolders(tx, u)
		for _, f := range all {
			out = append(out, f.public())
		}
		return err
	})
	if err != nil {
		return nil, opError(err, "list folders of %s", u)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if (out[i].Name == Inbox) != (out[j].Name == Inbox) {
			return out[i].Name == Inbox
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// FolderStatus counts a folder's messages.
func (s *Store) FolderStatus(ctx context.Context, user, name string) (Status, error) {
	var st Status
	u, err := normUser(user)
	if err != nil {
		return st, err
	}
	err = s.db.View(func(tx *storage.Tx) error {
		ub, f, err := getFolder(tx, u, name)
		if err != nil {
			return err
		}
		st.Folder = f.public()
		return msgBucket(ub, f.ID).ForEach(func(_, raw []byte) error {
			var m msgRecord
			if err := m.decode(raw); err != nil {
				return err
			}
			st.Messages++
			st.Size += m.Size
			if !hasFlag(m.Flags, FlagSeen) {
				st.Unseen++
			}
			if hasFlag(m.Flags, FlagDeleted) {
				st.Deleted++
			}
			return nil
		})
	})
	if err != nil {
		return st, opError(err, "status of %s/%s", u, name)
	}
	return st, nil
}
