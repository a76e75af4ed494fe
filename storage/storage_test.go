package storage

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type peer struct {
	Name string
	Port int
}

func open(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestBucketRoundTripAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shoal.db")
	peers := NewBucket[peer]("test.peers")
	db := open(t, path)
	err := db.Update(func(tx *Tx) error {
		if err := peers.Put(tx, "b", peer{"bob", 2}); err != nil {
			return err
		}
		return peers.Put(tx, "a", peer{"alice", 1})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = open(t, path)
	defer db.Close()
	var got []string
	err = db.View(func(tx *Tx) error {
		if n := peers.Count(tx); n != 2 {
			t.Errorf("Count = %d, want 2", n)
		}
		p, err := peers.Get(tx, "a")
		if err != nil || p != (peer{"alice", 1}) {
			t.Errorf("Get(a) = %v, %v", p, err)
		}
		if _, err := peers.Get(tx, "zz"); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(zz) err = %v, want ErrNotFound", err)
		}
		return peers.ForEach(tx, func(k string, v peer) error {
			got = append(got, k+"="+v.Name)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "a=alice,b=bob" {
		t.Errorf("ForEach order = %v", got)
	}
	if err := db.Update(func(tx *Tx) error { return peers.Delete(tx, "a") }); err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *Tx) error {
		if _, err := peers.Get(tx, "a"); !errors.Is(err, ErrNotFound) {
			t.Errorf("after Delete, Get(a) err = %v", err)
		}
		return nil
	})
}

func TestMigrationsRunOnceInOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shoal.db")
	var ran []string
	names := NewBucket[string]("test.names")
	ms := []Migration{
		{1, "create", func(tx *Tx) error { ran = append(ran, "1"); return names.Put(tx, "x", "v1") }},
		{2, "rewrite", func(tx *Tx) error {
			ran = append(ran, "2")
			v, err := names.Get(tx, "x")
			if err != nil {
				return err
			}
			return names.Put(tx, "x", v+"+v2")
		}},
	}
	db := open(t, path)
	if err := db.Migrate("test", ms[:1]); err != nil {
		t.Fatal(err)
	}
	db.Close()

	db = open(t, path)
	if err := db.Migrate("test", ms); err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate("test", ms); err != nil {
		t.Fatal(err)
	}
	if v, _ := db.SchemaVersion("test"); v != 2 {
		t.Errorf("version = %d, want 2", v)
	}
	if v, _ := db.SchemaVersion("other"); v != 0 {
		t.Errorf("other component version = %d, want 0", v)
	}
	db.View(func(tx *Tx) error {
		if v, _ := names.Get(tx, "x"); v != "v1+v2" {
			t.Errorf("x = %q", v)
		}
		return nil
	})
	if strings.Join(ran, "") != "12" {
		t.Errorf("ran %v, want each migration once in order", ran)
	}
	db.Close()

	// A newer database is refused; an older Shoal must not misread it.
	db = open(t, path)
	defer db.Close()
	if err := db.Migrate("test", ms[:1]); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("Migrate with fewer migrations: err = %v", err)
	}
}

func TestFailedMigrationChangesNothing(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "shoal.db"))
	defer db.Close()
	names := NewBucket[string]("test.names")
	boom := errors.New("boom")
	err := db.Migrate("test", []Migration{
		{1, "half", func(tx *Tx) error {
			if err := names.Put(tx, "x", "partial"); err != nil {
				return err
			}
			return boom
		}},
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	if v, _ := db.SchemaVersion("test"); v != 0 {
		t.Errorf("version = %d after failed migration", v)
	}
	db.View(func(tx *Tx) error {
		if _, err := names.Get(tx, "x"); !errors.Is(err, ErrNotFound) {
			t.Errorf("failed migration left data: %v", err)
		}
		return nil
	})
	if err := db.Migrate("test", []Migration{{2, "gap", nil}}); err == nil {
		t.Error("a migration list with a gap was accepted")
	}
}

func TestBackupIsAUsableDatabase(t *testing.T) {
	dir := t.TempDir()
	db := open(t, filepath.Join(dir, "shoal.db"))
	defer db.Close()
	names := NewBucket[string]("test.names")
	db.Update(func(tx *Tx) error { return names.Put(tx, "k", "v") })

	var buf bytes.Buffer
	n, err := db.Backup(&buf)
	if err != nil || n == 0 || int64(buf.Len()) != n {
		t.Fatalf("Backup = %d, %v (buffer %d)", n, err, buf.Len())
	}
	out := filepath.Join(dir, "backup.db")
	if _, err := db.BackupFile(out); err != nil {
		t.Fatal(err)
	}
	copyDB := open(t, out)
	defer copyDB.Close()
	copyDB.View(func(tx *Tx) error {
		if v, err := names.Get(tx, "k"); v != "v" {
			t.Errorf("backup k = %q, %v", v, err)
		}
		return nil
	})
	if _, err := db.BackupFile(filepath.Join(dir, "no", "such", "dir", "b.db")); err == nil {
		t.Error("backup into a missing folder succeeded")
	}
}

// TestSecondProcessFailsFast opens the database from a child process while
// this one holds it: the child must fail quickly with ErrLocked, not hang.
func TestSecondProcessFailsFast(t *testing.T) {
	if path := os.Getenv("SHOAL_STORAGE_CHILD"); path != "" {
		_, err := Open(path)
		if errors.Is(err, ErrLocked) {
			os.Exit(3)
		}
		os.Exit(4)
	}
	path := filepath.Join(t.TempDir(), "shoal.db")
	db := open(t, path)
	defer db.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^TestSecondProcessFailsFast$")
	cmd.Env = append(os.Environ(), "SHOAL_STORAGE_CHILD="+path)
	start := time.Now()
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("child: %v, want exit 3 (ErrLocked)", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("child took %v to give up", d)
	}
}
