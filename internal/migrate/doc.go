// Package migrate owns the versioned migration directory's life cycle with the
// ariga.io/atlas Go library, so nothing needs the Atlas CLI:
//
//   - Diff replays ent/migrate/migrations on a throw-away dev database, diffs
//     it against ent/schema and writes the next file plus atlas.sum. On top of
//     Atlas's table changes it emits what Atlas cannot see: the pgvector
//     extension and the service role (first file), and row-level security for
//     every table the model marks as owned (ent.OwnedTables).
//   - Check is Diff without writing: it fails when schema and directory disagree.
//   - Apply runs pending files, each in its own transaction, under an advisory
//     lock, recording revisions in the table the Atlas CLI uses.
//   - Status compares the revisions with the directory.
//   - Lint runs Atlas's sqlcheck analyzers (destructive, backward-incompatible,
//     data-dependent, constraint drops) on the newest files.
//
// It does not own the database's roles' passwords or its creation: see
// internal/db's provisioning.
package migrate
