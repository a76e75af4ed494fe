package storage

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ErrNotFound is returned by Bucket.Get for a key that is not there.
var ErrNotFound = errors.New("storage: not found")

// Bucket is a named bbolt bucket whose values are T, stored as JSON.
// The zero value is not usable; make one with NewBucket.
type Bucket[T any] struct {
	name []byte
}

// NewBucket names a bucket of T values. Names are owned by domain packages,
// which should prefix them with their own name ("cdn.catalog").
func NewBucket[T any](name string) Bucket[T] { return Bucket[T]{name: []byte(name)} }

// Name is the bucket's name.
func (b Bucket[T]) Name() string { return string(b.name) }

// Get reads key. A missing key or bucket gives ErrNotFound.
func (b Bucket[T]) Get(tx *Tx, key string) (T, error) {
	var v T
	bk := tx.Bucket(b.name)
	if bk == nil {
		return v, fmt.Errorf("%w: %s/%s", ErrNotFound, b.name, key)
	}
	raw := bk.Get([]byte(key))
	if raw == nil {
		return v, fmt.Errorf("%w: %s/%s", ErrNotFound, b.name, key)
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, fmt.Errorf("storage: decode %s/%s: %w", b.name, key, err)
	}
	return v, nil
}

// Put writes key, creating the bucket if needed.
func (b Bucket[T]) Put(tx *Tx, key string, v T) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("storage: encode %s/%s: %w", b.name, key, err)
	}
	bk, err := tx.CreateBucketIfNotExists(b.name)
	if err != nil {
		return fmt.Errorf("storage: bucket %s: %w", b.name, err)
	}
	if err := bk.Put([]byte(key), raw); err != nil {
		return fmt.Errorf("storage: put %s/%s: %w", b.name, key, err)
	}
	return nil
}

// Delete removes key; a missing key is not an error.
func (b Bucket[T]) Delete(tx *Tx, key string) error {
	bk := tx.Bucket(b.name)
	if bk == nil {
		return nil
	}
	if err := bk.Delete([]byte(key)); err != nil {
		return fmt.Errorf("storage: delete %s/%s: %w", b.name, key, err)
	}
	return nil
}

// ForEach calls fn for every entry in key order, stopping at the first error.
func (b Bucket[T]) ForEach(tx *Tx, fn func(key string, v T) error) error {
	bk := tx.Bucket(b.name)
	if bk == nil {
		return nil
	}
	return bk.ForEach(func(k, raw []byte) error {
		var v T
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("storage: decode %s/%s: %w", b.name, k, err)
		}
		return fn(string(k), v)
	})
}

// Count is the number of entries.
func (b Bucket[T]) Count(tx *Tx) int {
	bk := tx.Bucket(b.name)
	if bk == nil {
		return 0
	}
	return bk.Stats().KeyN
}
