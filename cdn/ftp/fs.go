package ftp

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/afero"
)

// errReadOnly answers every write: the library is served read-only.
var errReadOnly = &fs.PathError{Op: "write", Path: "/", Err: errors.New("the library is read-only")}

// libraryFs is the library as a file system: the root holds one folder per
// item; an item's folder holds its files (a single-file item, that file),
// opened from where they lie on disk. Only the files the item was published
// with are visible, and an item's files are opened through os.Root, so
// neither "..", nor a symbolic link, nor a file added to a published folder
// later reaches anything else.
type libraryFs struct {
	items map[string]Item // by folder name
	names []string        // folder names, sorted
}

func newLibraryFs(items []Item) *libraryFs {
	l := &libraryFs{items: map[string]Item{}}
	for _, it := range items {
		name := folderName(it.Name)
		if _, taken := l.items[name]; taken && len(it.InfoHash) >= 8 {
			name += " (" + it.InfoHash[:8] + ")"
		}
		if _, taken := l.items[name]; taken || len(it.Files) == 0 {
			continue
		}
		l.items[name] = it
		l.names = append(l.names, name)
	}
	slices.Sort(l.names)
	return l
}

// folderName makes an item's name a folder name: no slashes, not empty.
func folderName(name string) string {
	name = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r < ' ' {
			return '_'
		}
		return r
	}, name)
	if name == "" || name == "." || name == ".." {
		name = "_"
	}
	return name
}

// split cleans an FTP path and splits it into the item's folder and the
// path inside the item ("" for the folder itself).
func split(name string) (folder, rest string) {
	p := path.Clean("/" + filepath.ToSlash(name))
	folder, rest, _ = strings.Cut(strings.TrimPrefix(p, "/"), "/")
	return folder, rest
}

func (l *libraryFs) lookup(name string) (Item, string, error) {
	folder, rest := split(name)
	it, ok := l.items[folder]
	if !ok {
		return Item{}, "", &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return it, rest, nil
}

// entries lists a directory: the root, an item's folder, or a folder
// inside an item. ok is false when dir is no directory.
func (l *libraryFs) entries(dir string) ([]os.FileInfo, bool) {
	folder, rest := split(dir)
	if folder == "" {
		out := make([]os.FileInfo, 0, len(l.names))
		for _, n := range l.names {
			out = append(out, dirInfo{name: n, mod: l.items[n].Time})
		}
		return out, true
	}
	it, ok := l.items[folder]
	if !ok {
		return nil, false
	}
	prefix := ""
	if rest != "" {
		prefix = rest + "/"
	}
	var out []os.FileInfo
	seen := map[string]bool{}
	for _, f := range it.Files {
		sub, ok := strings.CutPrefix(f.Path, prefix)
		if !ok || sub == "" {
			continue
		}
		first, _, isDir := strings.Cut(sub, "/")
		if seen[first] {
			continue
		}
		seen[first] = true
		if isDir {
			out = append(out, dirInfo{name: first, mod: it.Time})
		} else {
			out = append(out, fileInfo{name: first, size: f.Size, mod: it.Time})
		}
	}
	if len(out) == 0 {
		return nil, false
	}
	slices.SortFunc(out, func(a, b os.FileInfo) int { return strings.Compare(a.Name(), b.Name()) })
	return out, true
}

// file finds a file of an item by its path inside the item.
func (it Item) file(rest string) (File, bool) {
	for _, f := range it.Files {
		if f.Path == rest {
			return f, true
		}
	}
	return File{}, false
}

func (l *libraryFs) Stat(name string) (os.FileInfo, error) {
	folder, rest := split(name)
	if folder == "" {
		return dirInfo{name: "/"}, nil
	}
	it, _, err := l.lookup(name)
	if err != nil {
		return nil, err
	}
	if f, ok := it.file(rest); ok {
		return fileInfo{name: path.Base(f.Path), size: f.Size, mod: it.Time}, nil
	}
	if _, ok := l.entries(name); ok {
		base := folder
		if rest != "" {
			base = path.Base(rest)
		}
		return dirInfo{name: base, mod: it.Time}, nil
	}
	return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
}

func (l *libraryFs) Open(name string) (afero.File, error) {
	return l.OpenFile(name, os.O_RDONLY, 0)
}

func (l *libraryFs) OpenFile(name string, flag int, _ os.FileMode) (afero.File, error) {
	if flag&(os.O_WRONLY|os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_TRUNC) != 0 {
		return nil, errReadOnly
	}
	if list, ok := l.entries(name); ok {
		return &dirFile{name: name, list: list}, nil
	}
	it, rest, err := l.lookup(name)
	if err != nil {
		return nil, err
	}
	f, ok := it.file(rest)
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return it.open(f)
}

// open opens one of the item's files where it lies: a single-file item's
// Path is the file; a folder item's files are below its Path.
func (it Item) open(f File) (afero.File, error) {
	if !it.Folder {
		return os.Open(it.Path)
	}
	root, err := os.OpenRoot(it.Path)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	file, err := root.Open(filepath.FromSlash(f.Path))
	if err != nil {
		return nil, err
	}
	if st, err := file.Stat(); err != nil || !st.Mode().IsRegular() {
		file.Close()
		return nil, &fs.PathError{Op: "open", Path: f.Path, Err: fs.ErrNotExist}
	}
	return file, nil
}

// ReadDir lists a folder for LIST, NLST and MLSD.
func (l *libraryFs) ReadDir(name string) ([]os.FileInfo, error) {
	list, ok := l.entries(name)
	if !ok {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
	}
	return list, nil
}

func (l *libraryFs) Name() string { return "shoal-library" }

func (l *libraryFs) Create(string) (afero.File, error)          { return nil, errReadOnly }
func (l *libraryFs) Mkdir(string, os.FileMode) error            { return errReadOnly }
func (l *libraryFs) MkdirAll(string, os.FileMode) error         { return errReadOnly }
func (l *libraryFs) Remove(string) error                        { return errReadOnly }
func (l *libraryFs) RemoveAll(string) error                     { return errReadOnly }
func (l *libraryFs) Rename(string, string) error                { return errReadOnly }
func (l *libraryFs) Chmod(string, os.FileMode) error            { return errReadOnly }
func (l *libraryFs) Chown(string, int, int) error               { return errReadOnly }
func (l *libraryFs) Chtimes(string, time.Time, time.Time) error { return errReadOnly }
func (l *libraryFs) RemoveDir(string) error                     { return errReadOnly }
func (l *libraryFs) Symlink(string, string) error               { return errReadOnly }
func (l *libraryFs) AllocateSpace(int) error                    { return errReadOnly }
func (l *libraryFs) GetAvailableSpace(string) (int64, error)    { return 0, nil }

type fileInfo struct {
	name string
	size int64
	mod  time.Time
}

func (f fileInfo) Name() string       { return f.name }
func (f fileInfo) Size() int64        { return f.size }
func (f fileInfo) Mode() os.FileMode  { return 0o444 }
func (f fileInfo) ModTime() time.Time { return f.mod }
func (f fileInfo) IsDir() bool        { return false }
func (f fileInfo) Sys() any           { return nil }

type dirInfo struct {
	name string
	mod  time.Time
}

func (d dirInfo) Name() string       { return d.name }
func (d dirInfo) Size() int64        { return 0 }
func (d dirInfo) Mode() os.FileMode  { return fs.ModeDir | 0o555 }
func (d dirInfo) ModTime() time.Time { return d.mod }
func (d dirInfo) IsDir() bool        { return true }
func (d dirInfo) Sys() any           { return nil }

// dirFile is an open folder of the library: it lists, and refuses reads
// and writes.
type dirFile struct {
	name string
	list []os.FileInfo
	pos  int
}

func (d *dirFile) Readdir(count int) ([]os.FileInfo, error) {
	rest := d.list[d.pos:]
	if count <= 0 {
		d.pos = len(d.list)
		return rest, nil
	}
	if len(rest) == 0 {
		return nil, io.EOF
	}
	n := min(count, len(rest))
	d.pos += n
	return rest[:n], nil
}

func (d *dirFile) Readdirnames(count int) ([]string, error) {
	infos, err := d.Readdir(count)
	names := make([]string, len(infos))
	for i, fi := range infos {
		names[i] = fi.Name()
	}
	return names, err
}

func (d *dirFile) Stat() (os.FileInfo, error)         { return dirInfo{name: path.Base(d.name)}, nil }
func (d *dirFile) Name() string                       { return d.name }
func (d *dirFile) Close() error                       { return nil }
func (d *dirFile) Read([]byte) (int, error)           { return 0, errIsDir }
func (d *dirFile) ReadAt([]byte, int64) (int, error)  { return 0, errIsDir }
func (d *dirFile) Seek(int64, int) (int64, error)     { return 0, errIsDir }
func (d *dirFile) Write([]byte) (int, error)          { return 0, errReadOnly }
func (d *dirFile) WriteAt([]byte, int64) (int, error) { return 0, errReadOnly }
func (d *dirFile) WriteString(string) (int, error)    { return 0, errReadOnly }
func (d *dirFile) Sync() error                        { return nil }
func (d *dirFile) Truncate(int64) error               { return errReadOnly }

var errIsDir = errors.New("is a directory")
