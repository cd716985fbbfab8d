package pgmigrate

import (
	"sort"
	"strings"

	"ariga.io/atlas/sql/schema"
	entschema "entgo.io/ent/dialect/sql/schema"
)

// Tables is what the model says of its tables beyond what ent declares:
// which are owned by a user (and by which column) and which are global
// reference tables. ent.OwnedTables and ent.ReferenceTables, generated from
// ent/schema's annotations, are the production values.
type Tables struct {
	Owned     map[string]string // table -> owner column ("id" for users)
	Reference map[string]bool
}

// distributed reports whether t is split by user on Citus, and by which
// column: every owned table but the reference tables.
func (m Tables) distributed(t string) (string, bool) {
	col, ok := m.Owned[t]
	if !ok || m.Reference[t] {
		return "", false
	}
	return col, true
}

// keyed reports whether t is a per-user table whose keys the model rewrites
// to lead with its owner column (users keep theirs: their id is the owner).
func (m Tables) keyed(t string) (string, bool) {
	col, ok := m.distributed(t)
	return col, ok && col != "id"
}

// modelKeys is the diff hook that turns ent's tables into the tables of the
// model: same-owner keys first (sameOwnerKeys), then the keys that let a
// per-user table be distributed by user_id (ownerKeys), and finally each
// new constraint in a statement of its own (splitConstraints).
func modelKeys(m Tables) entschema.DiffHook {
	return func(next entschema.Differ) entschema.Differ {
		return entschema.DiffFunc(func(current, desired *schema.Schema) ([]schema.Change, error) {
			addSameOwnerKeys(desired, m.Owned)
			ownerKeys(desired, m)
			changes, err := next.Diff(current, desired)
			if err != nil {
				return nil, err
			}
			return splitConstraints(changes), nil
		})
	}
}

// ownerKeys rewrites the desired schema so that every per-user table can be
// distributed by its owner column on Citus (which requires every primary
// key, unique index and foreign key between distributed tables to include
// the distribution column), and keeps the same meaning on plain Postgres:
//   - the primary key is (user_id, id); ent cannot declare a composite
//     primary key, so it is declared here, for every owned table at once;
//   - a unique index that lacks user_id gets it in front: unique per user;
//   - a single-column key to a parent's id (a message's run) is dropped, and
//     the same-owner key (run_id, user_id) -> (id, user_id) takes over its
//     ON DELETE action.
//
// The owner key itself (user_id -> users.id) stays: users are distributed by
// id, co-located with their rows.
func ownerKeys(s *schema.Schema, m Tables) {
	for _, t := range s.Tables {
		ownerCol, ok := m.keyed(t.Name)
		if !ok {
			continue
		}
		owner, ok := t.Column(ownerCol)
		if !ok {
			continue
		}
		if pk := t.PrimaryKey; pk != nil && !indexHas(pk, owner) {
			keyed := schema.NewPrimaryKey(owner)
			keyed.Name = pk.Name
			for _, p := range pk.Parts {
				keyed.AddParts(&schema.IndexPart{C: p.C, X: p.X, Desc: p.Desc})
			}
			t.SetPrimaryKey(keyed)
		}
		for _, idx := range t.Indexes {
			if !idx.Unique || indexHas(idx, owner) {
				continue
			}
			parts := append([]*schema.IndexPart{{C: owner}}, idx.Parts...)
			idx.Parts = nil
			idx.AddParts(parts...)
		}
		var keep []*schema.ForeignKey
		for _, fk := range t.ForeignKeys {
			if parentKey(fk, owner, m) {
				if sk, ok := t.ForeignKey(t.Name + "_" + fk.Columns[0].Name + sameOwnerSuffix); ok {
					sk.OnDelete = fk.OnDelete
				}
				continue
			}
			keep = append(keep, fk)
		}
		t.ForeignKeys = keep
	}
}

// parentKey reports whether fk is a single-column key from a per-user table
// to the id of another per-user table: the key the same-owner key replaces.
func parentKey(fk *schema.ForeignKey, owner *schema.Column, m Tables) bool {
	if len(fk.Columns) != 1 || fk.Columns[0] == owner || fk.RefTable == nil || len(fk.RefColumns) != 1 {
		return false
	}
	_, ok := m.keyed(fk.RefTable.Name)
	return ok
}

func indexHas(idx *schema.Index, c *schema.Column) bool {
	for _, p := range idx.Parts {
		if p.C != nil && p.C.Name == c.Name {
			return true
		}
	}
	return false
}

// splitConstraints gives every new or changed constraint of a table change
// an ALTER TABLE of its own. Citus refuses an ALTER TABLE of a distributed
// table that adds a column and a constraint at once ("cannot execute ADD
// COLUMN command with PRIMARY KEY, UNIQUE, FOREIGN and CHECK constraints"),
// which Atlas would otherwise plan for a new column with its key.
//
// Dropped foreign keys go first, in statements of their own: a primary key
// that changes (to (user_id, id)) cannot be dropped while a key of another
// table still references it.
func splitConstraints(changes []schema.Change) []schema.Change {
	var drops, out []schema.Change
	for _, c := range changes {
		mt, ok := c.(*schema.ModifyTable)
		if !ok {
			out = append(out, c)
			continue
		}
		var rest, cons []schema.Change
		for _, ch := range mt.Changes {
			if _, ok := ch.(*schema.DropForeignKey); ok {
				drops = append(drops, &schema.ModifyTable{T: mt.T, Changes: []schema.Change{ch}})
				continue
			}
			if isConstraint(ch) {
				cons = append(cons, ch)
			} else {
				rest = append(rest, ch)
			}
		}
		if len(cons) == 0 && len(rest) == 0 {
			continue
		}
		if len(cons) == 0 || (len(cons) == 1 && len(rest) == 0) {
			out = append(out, &schema.ModifyTable{T: mt.T, Changes: append(rest, cons...)})
			continue
		}
		if len(rest) > 0 {
			out = append(out, &schema.ModifyTable{T: mt.T, Changes: rest})
		}
		sort.SliceStable(cons, func(i, j int) bool { return constraintOrder(cons[i]) < constraintOrder(cons[j]) })
		for _, ch := range cons {
			out = append(out, &schema.ModifyTable{T: mt.T, Changes: []schema.Change{ch}})
		}
	}
	return append(drops, out...)
}

// isConstraint reports whether ch adds or changes a table constraint.
func isConstraint(ch schema.Change) bool {
	switch ch.(type) {
	case *schema.AddPrimaryKey, *schema.ModifyPrimaryKey, *schema.AddForeignKey, *schema.ModifyForeignKey,
		*schema.AddCheck, *schema.ModifyCheck:
		return true
	}
	return false
}

// constraintOrder puts primary keys before foreign keys, which may
// reference them.
func constraintOrder(ch schema.Change) int {
	switch ch.(type) {
	case *schema.AddPrimaryKey, *schema.ModifyPrimaryKey:
		return 0
	}
	return 1
}

// AlterClauses splits an ALTER TABLE statement into its clauses (after the
// table name), at the commas outside parentheses and quotes.
func AlterClauses(stmt string) []string {
	rest := stmt
	if i := strings.Index(stmt, `" `); strings.HasPrefix(stmt, `ALTER TABLE "`) && i > 0 {
		rest = stmt[i+2:]
	}
	var (
		out           []string
		depth         int
		inStr, inName bool
		start         int
	)
	for i, r := range rest {
		switch {
		case r == '\'' && !inName:
			inStr = !inStr
		case r == '"' && !inStr:
			inName = !inName
		case inStr || inName:
		case r == '(':
			depth++
		case r == ')':
			depth--
		case r == ',' && depth == 0:
			out = append(out, strings.TrimSpace(rest[start:i]))
			start = i + 1
		}
	}
	return append(out, strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest[start:]), ";")))
}
