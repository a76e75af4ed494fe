package catalog

import (
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// Item is one shared torrent.
type Item struct {
	// InfoHash is the torrent's v1 info hash, 40 lower-case hex digits.
	InfoHash string `json:"infohash"`
	Name     string `json:"name"`
	Size     int64  `json:"size"`
	Files    []File `json:"files,omitempty"`
	// Kind is what the content is ("video", "audio", "folder", ...), as
	// the publisher saw it.
	Kind string `json:"kind,omitempty"`
	// Publisher is the node id of the node that published it first.
	Publisher     string    `json:"publisher"`
	PublisherName string    `json:"publisher_name"`
	Published     time.Time `json:"published"`
	Magnet        string    `json:"magnet,omitempty"`
}

// File is one file of an item, its path relative to the item, with "/".
type File struct {
	Path string `json:"path"`
	Size int64  `json:"size"`
}

// Bounds on an item, so a member cannot fill others' databases.
const (
	maxName   = 1024
	maxFiles  = 100_000
	maxPath   = 4096
	maxKind   = 32
	maxMagnet = 8192
)

// ParseInfoHash normalises an info hash given in hex (either case) to the
// form items use.
func ParseInfoHash(s string) (string, error) {
	if len(s) != 40 {
		return "", fmt.Errorf("catalog: info hash %q is not 40 hex digits", s)
	}
	if _, err := hex.DecodeString(s); err != nil {
		return "", fmt.Errorf("catalog: info hash %q is not 40 hex digits", s)
	}
	return strings.ToLower(s), nil
}

// validate checks it and normalises its info hash.
func (it *Item) validate() error {
	ih, err := ParseInfoHash(it.InfoHash)
	if err != nil {
		return err
	}
	it.InfoHash = ih
	bad := func(format string, args ...any) error {
		return fmt.Errorf("catalog: item %s: %s", ih, fmt.Sprintf(format, args...))
	}
	switch {
	case it.Name == "" || len(it.Name) > maxName:
		return bad("name of %d bytes", len(it.Name))
	case it.Size < 0:
		return bad("size %d", it.Size)
	case len(it.Files) > maxFiles:
		return bad("%d files", len(it.Files))
	case len(it.Kind) > maxKind:
		return bad("kind %q", it.Kind)
	case len(it.Magnet) > maxMagnet || (it.Magnet != "" && !strings.HasPrefix(it.Magnet, "magnet:?")):
		return bad("magnet is not a magnet link")
	case len(it.Publisher) > 64 || len(it.PublisherName) > 63:
		return bad("publisher %q %q", it.Publisher, it.PublisherName)
	}
	for _, f := range it.Files {
		if f.Path == "" || len(f.Path) > maxPath || f.Size < 0 {
			return bad("file %q of size %d", f.Path, f.Size)
		}
	}
	return nil
}

func (it Item) clone() Item {
	it.Files = append([]File(nil), it.Files...)
	return it
}
