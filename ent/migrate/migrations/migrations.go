// Package migrations embeds the versioned migration directory, so the binary
// applies migrations without a source tree. The .sql files and atlas.sum are
// written by `jarvis migrate diff` and never edited by hand after merge.
package migrations

import "embed"

// FS holds every migration file and atlas.sum.
//
//go:embed *.sql atlas.sum
var FS embed.FS
