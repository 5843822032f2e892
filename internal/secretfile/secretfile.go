// Package secretfile writes files that hold secrets (keys, tokens, cluster
// credentials): mode 0600 in directories created 0700, written to a synced
// temporary file and moved into place, so a crash never leaves a half-written
// or briefly world-readable secret. It must not log or return file contents.
package secretfile

import (
	"os"
	"path/filepath"
)

// Write replaces path with data.
func Write(path string, data []byte) error {
	return place(path, data, os.Rename)
}

// Create writes data to path, which must not exist (an error wrapping
// fs.ErrExist if it does).
func Create(path string, data []byte) error {
	return place(path, data, os.Link) // Link fails with EEXIST if path exists
}

// place writes data to a synced 0600 temporary file beside path, moves it
// into place with move (os.Rename or os.Link), and syncs the directory.
func place(path string, data []byte, move func(oldname, newname string) error) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*") // created 0600
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after a rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := move(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	_ = d.Sync() // some file systems cannot sync a directory; the move is done anyway
	return nil
}
