package pgmigrate

import (
	"fmt"
	"io/fs"

	"ariga.io/atlas/sql/migrate"
)

// LocalDir opens the migration directory on disk (for diff, which writes).
func LocalDir(path string) (*migrate.LocalDir, error) {
	d, err := migrate.NewLocalDir(path)
	if err != nil {
		return nil, fmt.Errorf("open migration directory %s: %w", path, err)
	}
	return d, nil
}

// FSDir loads a migration directory from fsys (the binary's embedded copy) into
// memory, so `jarvis migrate apply` needs no source tree.
func FSDir(fsys fs.FS) (migrate.Dir, error) {
	mem := &migrate.MemDir{}
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, fmt.Errorf("read embedded migration %s: %w", e.Name(), err)
		}
		if err := mem.WriteFile(e.Name(), b); err != nil {
			return nil, err
		}
	}
	return mem, nil
}

// copyDir returns an in-memory copy of dir (files and atlas.sum).
func copyDir(dir migrate.Dir) (*migrate.MemDir, error) {
	mem := &migrate.MemDir{}
	files, err := dir.Files()
	if err != nil {
		return nil, fmt.Errorf("read migration directory: %w", err)
	}
	for _, f := range files {
		if err := mem.WriteFile(f.Name(), f.Bytes()); err != nil {
			return nil, err
		}
	}
	if sum, err := fs.ReadFile(dir, migrate.HashFileName); err == nil {
		if err := mem.WriteFile(migrate.HashFileName, sum); err != nil {
			return nil, err
		}
	}
	return mem, nil
}
