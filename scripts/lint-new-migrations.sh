#!/usr/bin/env bash
# Runs `jarvis migrate lint` on every migration file newer than the newest
# file of HEAD's first parent (the migrations this change adds). Atlas's
# analyzers then fail a destructive or incompatible change unless the file
# says why (an `atlas:nolint` directive with its reason). Outside git, or
# with no new file, there is nothing to lint.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=ent/migrate/migrations
if ! git rev-parse --verify -q HEAD^1 >/dev/null 2>&1; then
  echo "lint-new-migrations: no parent commit: nothing to compare with" >&2
  exit 0
fi
last=$(git ls-tree --name-only HEAD^1 -- "$dir/" | sed -n 's|.*/\([0-9]\{14\}\)_.*\.sql$|\1|p' | sort | tail -1)
n=0
for f in "$dir"/*.sql; do
  v=$(basename "$f" | cut -d_ -f1)
  if [[ -z "$last" || "$v" > "$last" ]]; then n=$((n + 1)); fi
done
if [ "$n" -eq 0 ]; then
  echo "lint-new-migrations: no migration newer than HEAD^1's ($last)" >&2
  exit 0
fi
echo "lint-new-migrations: linting the $n newest migration(s)" >&2
exec go run ./cmd/jarvis migrate lint --latest "$n"
