package pgmigrate

import (
	"sort"

	"ariga.io/atlas/sql/schema"
)

// sameOwnerSuffix names the composite foreign key that pins a child row to
// a parent of the same user.
const sameOwnerSuffix = "_same_owner"

// addSameOwnerKeys adds to the desired schema, for every foreign key from one
// owned table to another (a message's run, a relation's entities, a refresh
// token's session), a composite key (fk, user_id) → (id, user_id), so Atlas
// plans it like any other constraint and never drops it. Postgres checks
// foreign keys without row-level security, so a plain key would let a row of
// user A point at user B's parent; the composite key makes the database
// refuse it, whoever writes the row. It is also the key Citus accepts between
// co-located tables: ownerKeys (keys.go) then drops the plain key and gives
// its ON DELETE action to this one. The parents' unique (user_id, id)
// (OwnerMixin, and the primary key) is what the key references.
func addSameOwnerKeys(s *schema.Schema, owned map[string]string) {
	for _, t := range s.Tables {
		ownerCol, ok := owned[t.Name]
		if !ok {
			continue
		}
		child, ok := t.Column(ownerCol)
		if !ok {
			continue
		}
		var keys []*schema.ForeignKey
		for _, fk := range t.ForeignKeys {
			if len(fk.Columns) != 1 || fk.RefTable == nil || fk.Columns[0] == child { // the owner key itself
				continue
			}
			parentOwner, ok := owned[fk.RefTable.Name]
			if !ok || len(fk.RefColumns) != 1 {
				continue
			}
			parentCol, ok := fk.RefTable.Column(parentOwner)
			if !ok {
				continue
			}
			symbol := t.Name + "_" + fk.Columns[0].Name + sameOwnerSuffix
			if _, exists := t.ForeignKey(symbol); exists {
				continue
			}
			keys = append(keys, schema.NewForeignKey(symbol).
				SetTable(t).
				AddColumns(fk.Columns[0], child).
				SetRefTable(fk.RefTable).
				AddRefColumns(fk.RefColumns[0], parentCol).
				SetOnUpdate(schema.NoAction).
				SetOnDelete(schema.NoAction))
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i].Symbol < keys[j].Symbol })
		t.AddForeignKeys(keys...)
	}
}
