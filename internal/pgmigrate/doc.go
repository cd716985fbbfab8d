// Package pgmigrate owns the versioned migration directory's life cycle on
// Postgres with the ariga.io/atlas Go library, so nothing needs the Atlas CLI.
// (Not to be confused with ent/migrate, ent's generated schema description
// that Diff plans from, nor with ariga.io/atlas/sql/migrate, the library's
// directory and executor types it drives.)
//
//   - Diff replays ent/migrate/migrations on a throw-away dev database, diffs
//     it against ent/schema and writes the next file plus atlas.sum. It adds
//     to the model a same-owner composite foreign key for every key between
//     owned tables (Atlas then plans them like any constraint), and on top of
//     Atlas's changes emits what Atlas cannot see: the pgvector extension and
//     the service role (first file), and row-level security for every table
//     the model marks as owned (ent.OwnedTables).
//   - Check is Diff without writing: it fails when schema and directory disagree.
//   - Apply runs pending files, each in its own transaction, under an advisory
//     lock, recording revisions in the table the Atlas CLI uses.
//   - Status compares the revisions with the directory.
//   - Lint runs Atlas's sqlcheck analyzers (destructive, backward-incompatible,
//     data-dependent, constraint drops) on the newest files.
//   - OpenDev creates the throw-away dev databases Diff, Check and Lint replay
//     the directory on (and dbtest builds its template from).
//
// It does not own the database's roles' passwords or its creation: see
// internal/db's provisioning.
package pgmigrate
