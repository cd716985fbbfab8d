package db_test

import (
	"context"
	"testing"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"

	"github.com/jarvis-core/jarvis/internal/db/dbtest"
)

// TestVectorsTravelInBinary: the pool's connections know pgvector's type,
// so vectors go both ways in its binary form, and every kind of scan target
// ent and raw queries use still reads them: the vector itself, ent's
// NullScanner of a nullable embedding (NULL and not), and an untyped value.
func TestVectorsTravelInBinary(t *testing.T) {
	t.Parallel()
	d := dbtest.New(t)
	app := d.App(t)
	ctx := context.Background()
	conn, err := app.Pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, ok := conn.Conn().TypeMap().TypeForName("vector"); !ok {
		t.Fatal("the connection does not know the vector type: vectors would go as text")
	}
	in := pgvector.NewVector([]float32{0.1, -2.5e-7, 3.4028235e38, 1})
	var out pgvector.Vector
	if err := conn.QueryRow(ctx, "SELECT $1::vector", in).Scan(&out); err != nil {
		t.Fatal(err)
	}
	if out.String() != in.String() {
		t.Fatalf("round trip: %v, want %v", out.Slice(), in.Slice())
	}
	rows, err := conn.Query(ctx, "SELECT $1::vector", in)
	if err != nil {
		t.Fatal(err)
	}
	format := rows.FieldDescriptions()[0].Format
	rows.Close()
	if format != pgx.BinaryFormatCode {
		t.Fatalf("a vector column came in format %d, want binary", format)
	}
	var dims int
	if err := conn.QueryRow(ctx, "SELECT vector_dims($1::vector)", in).Scan(&dims); err != nil || dims != 4 {
		t.Fatalf("vector_dims of the sent vector: %d (%v), want 4", dims, err)
	}
	for _, tc := range []struct {
		sql   string
		valid bool
	}{{"SELECT $1::vector", true}, {"SELECT NULL::vector", false}} {
		ns := entsql.NullScanner{S: new(pgvector.Vector)}
		var args []any
		if tc.valid {
			args = append(args, in)
		}
		if err := conn.QueryRow(ctx, tc.sql, args...).Scan(&ns); err != nil {
			t.Fatalf("%s into ent's NullScanner: %v", tc.sql, err)
		}
		if ns.Valid != tc.valid || (tc.valid && ns.S.(*pgvector.Vector).String() != in.String()) {
			t.Fatalf("%s into ent's NullScanner: valid %v, %v", tc.sql, ns.Valid, ns.S)
		}
	}
	var text string
	if err := conn.QueryRow(ctx, "SELECT $1::vector", in).Scan(&text); err != nil || text != in.String() {
		t.Fatalf("into a string: %q (%v), want %q", text, err, in.String())
	}
	var anyv any
	if err := conn.QueryRow(ctx, "SELECT $1::vector", in).Scan(&anyv); err != nil {
		t.Fatal(err)
	}
	if v, ok := anyv.(pgvector.Vector); !ok || v.String() != in.String() {
		t.Fatalf("into any: %T %v", anyv, anyv)
	}
	if err := conn.QueryRow(ctx, "SELECT NULL::vector").Scan(&out); err == nil {
		t.Fatal("NULL scanned into a pgvector.Vector without an error")
	}
	// database/sql through the same pool reads the text form.
	var viaSQL pgvector.Vector
	if err := app.SQL.QueryRowContext(ctx, "SELECT $1::vector", in).Scan(&viaSQL); err != nil || viaSQL.String() != in.String() {
		t.Fatalf("database/sql: %v (%v)", viaSQL.Slice(), err)
	}
}
