package mailstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shoal-p2p/shoal/storage"
	"golang.org/x/crypto/bcrypt"
)

type userRecord struct {
	Name         string    `json:"name"`
	PasswordHash string    `json:"password_hash"` // bcrypt
	Created      time.Time `json:"created"`
}

// User is a mail user as the store lists it.
type User struct {
	Name    string
	Created time.Time
}

const (
	maxUserLen     = 64
	minPasswordLen = 8
	maxPasswordLen = 72 // bcrypt uses no more
)

// normUser lower-cases a local part and checks it is one a mail address can
// carry plainly: letters, digits, '.', '_', '-', no leading, trailing or
// doubled dot.
func normUser(user string) (string, error) {
	u := strings.ToLower(user)
	if u == "" || len(u) > maxUserLen {
		return "", fmt.Errorf("%w: user name %q must have 1 to %d characters", ErrBadInput, user, maxUserLen)
	}
	for _, r := range u {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return "", fmt.Errorf("%w: user name %q may hold only letters, digits, '.', '_' and '-'", ErrBadInput, user)
		}
	}
	if u[0] == '.' || u[len(u)-1] == '.' || strings.Contains(u, "..") {
		return "", fmt.Errorf("%w: user name %q has a misplaced '.'", ErrBadInput, user)
	}
	return u, nil
}

func checkPassword(pw string) error {
	if len(pw) < minPasswordLen || len(pw) > maxPasswordLen {
		return fmt.Errorf("%w: a password needs %d to %d bytes", ErrBadInput, minPasswordLen, maxPasswordLen)
	}
	return nil
}

// GeneratePassword returns a random password of 20 characters from a
// 56-letter alphabet without look-alikes (about 116 bits).
func GeneratePassword() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	return randomFrom(alphabet, 20)
}

func randomFrom(alphabet string, n int) string {
	b := make([]byte, n)
	// Rejection sampling keeps every letter equally likely.
	limit := 256 - 256%len(alphabet)
	var buf [64]byte
	for i := 0; i < n; {
		rand.Read(buf[:])
		for _, c := range buf {
			if int(c) < limit && i < n {
				b[i] = alphabet[int(c)%len(alphabet)]
				i++
			}
		}
	}
	return string(b)
}

// AddUser creates user with password and the standard folders.
func (s *Store) AddUser(ctx context.Context, user, password string) error {
	u, err := normUser(user)
	if err != nil {
		return err
	}
	if err := checkPassword(password); err != nil {
		return err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.opts.PasswordCost)
	if err != nil {
		return opError(err, "add user %s", u)
	}
	err = s.write(ctx, func(tx *storage.Tx, _ *changes) error {
		if _, err := usersBucket.Get(tx, u); err == nil {
			return ErrUserExists
		}
		if err := usersBucket.Put(tx, u, userRecord{Name: u, PasswordHash: string(hash), Created: s.opts.Now().UTC()}); err != nil {
			return err
		}
		if err := tx.Bucket(boxBucket).DeleteBucket([]byte(u)); err != nil && !isBucketNotFound(err) {
			return err
		}
		if _, err := tx.Bucket(boxBucket).CreateBucket([]byte(u)); err != nil {
			return err
		}
		for _, sf := range standardFolders {
			if _, err := s.createFolder(tx, u, sf.name, sf.use); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return opError(err, "add user %s", u)
	}
	return nil
}

// SetPassword replaces user's password.
func (s *Store) SetPassword(ctx context.Context, user, password string) error {
	u, err := normUser(user)
	if err != nil {
		return err
	}
	if err := checkPassword(password); err != nil {
		return err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.opts.PasswordCost)
	if err != nil {
		return opError(err, "set password of %s", u)
	}
	err = s.write(ctx, func(tx *storage.Tx, _ *changes) error {
		rec, err := usersBucket.Get(tx, u)
		if err != nil {
			return ErrNoUser
		}
		rec.PasswordHash = string(hash)
		return usersBucket.Put(tx, u, rec)
	})
	if err != nil {
		return opError(err, "set password of %s", u)
	}
	return nil
}

// RemoveUser deletes user with all their folders and messages.
func (s *Store) RemoveUser(ctx context.Context, user string) error {
	u, err := normUser(user)
	if err != nil {
		return err
	}
	err = s.write(ctx, func(tx *storage.Tx, ch *changes) error {
		if _, err := usersBucket.Get(tx, u); err != nil {
			return ErrNoUser
		}
		folders, err := listFolders(tx, u)
		if err != nil {
			return err
		}
		for _, f := range folders {
			if err := s.dropFolder(tx, ch, u, f); err != nil {
				return err
			}
		}
		if err := tx.Bucket(boxBucket).DeleteBucket([]byte(u)); err != nil && !isBucketNotFound(err) {
			return err
		}
		return usersBucket.Delete(tx, u)
	})
	if err != nil {
		return opError(err, "remove user %s", u)
	}
	return nil
}

// Users lists the users by name.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	var out []User
	err := s.db.View(func(tx *storage.Tx) error {
		return usersBucket.ForEach(tx, func(_ string, r userRecord) error {
			out = append(out, User{Name: r.Name, Created: r.Created})
			return nil
		})
	})
	if err != nil {
		return nil, opError(err, "list users")
	}
	return out, nil
}

// HasUser reports whether user exists. A name no user could have is
// simply absent.
func (s *Store) HasUser(ctx context.Context, user string) (bool, error) {
	u, err := normUser(user)
	if err != nil {
		return false, nil
	}
	var ok bool
	err = s.db.View(func(tx *storage.Tx) error {
		_, err := usersBucket.Get(tx, u)
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
		ok = err == nil
		return err
	})
	if err != nil {
		return false, opError(err, "look up user %s", u)
	}
	return ok, nil
}

// Authenticate checks user's password. A wrong password and an unknown
// user both give ErrBadCredentials, after the same bcrypt work.
func (s *Store) Authenticate(ctx context.Context, user, password string) error {
	hash := s.dummyHash
	known := false
	if u, err := normUser(user); err == nil {
		err := s.db.View(func(tx *storage.Tx) error {
			rec, err := usersBucket.Get(tx, u)
			if err == nil {
				hash, known = []byte(rec.PasswordHash), true
			}
			if errors.Is(err, storage.ErrNotFound) {
				return nil
			}
			return err
		})
		if err != nil {
			return opError(err, "authenticate %s", u)
		}
	}
	if len(password) > maxPasswordLen {
		password = password[:maxPasswordLen]
	}
	if err := bcrypt.CompareHashAndPassword(hash, []byte(password)); err != nil || !known {
		return ErrBadCredentials
	}
	return nil
}
