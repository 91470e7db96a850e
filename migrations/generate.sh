#!/usr/bin/env bash
# Regenerates both backend trees from one template per migration, so SQLite and PostgreSQL
# cannot drift apart. Usage: bash migrations/generate.sh migrations/templates/<name>.sql
# (a <name>.down.sql beside it is the reverse, for a template that alters tables)
set -euo pipefail
src=$1
name=$(basename "$src" .sql)
here=$(dirname "$0")
for backend in sqlite postgres; do
  dir="$here/$backend/$name"
  mkdir -p "$dir"
  if [ "$backend" = sqlite ]; then
    id='INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL'; ts='TIMESTAMP'; blob='BLOB'
  else
    id='BIGSERIAL PRIMARY KEY'; ts='TIMESTAMP'; blob='BYTEA'
  fi
  sed -e "s/@ID@/$id/g" -e "s/@TS@/$ts/g" -e "s/@BLOB@/$blob/g" "$src" > "$dir/up.sql"
  # What only one backend can say (SQLite's FTS5, PostgreSQL's GIN) stands in sections: lines
  # after `-- @sqlite` or `-- @postgres` go to that backend only, after `-- @both` to both again.
  if grep -qE '^-- @(sqlite|postgres|both)$' "$src"; then
    awk -v want="$backend" '/^-- @(sqlite|postgres|both)$/ { section = substr($0, 5); next }
      section == "" || section == "both" || section == want { print }' "$dir/up.sql" > "$dir/up.sql.tmp"
    mv "$dir/up.sql.tmp" "$dir/up.sql"
  fi
  # down.sql: the template's own <name>.down.sql when it alters tables; otherwise drop every
  # table the template creates, newest first.
  if [ -f "$here/templates/$name.down.sql" ]; then
    cp "$here/templates/$name.down.sql" "$dir/down.sql"
  else
    grep -oE '^CREATE TABLE [a-z_]+' "$src" | awk '{print $3}' | tac | sed 's/.*/DROP TABLE IF EXISTS &;/' > "$dir/down.sql"
  fi
done
