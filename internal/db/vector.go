package db

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/pgvector/pgvector-go"
)

// registerVector teaches a new connection pgvector's vector type in binary:
// unregistered, pgx sends a pgvector.Vector through its driver.Valuer, as
// text that Go formats and Postgres parses back (1,536 numbers each way,
// for every memory written and twice in every search). Binary is 4 bytes a
// number, copied. A database without the extension (before its first
// migration) keeps the text path.
func registerVector(ctx context.Context, conn *pgx.Conn) error {
	// One round trip, unprepared and untraced: it is the connection's
	// set-up, not the service's work.
	res := conn.PgConn().ExecParams(ctx, "SELECT to_regtype('vector')::oid", nil, nil, nil, nil).Read()
	if res.Err != nil {
		return fmt.Errorf("look up the vector type: %w", res.Err)
	}
	if len(res.Rows) != 1 || len(res.Rows[0]) != 1 || res.Rows[0][0] == nil {
		return nil
	}
	oid, err := strconv.ParseUint(string(res.Rows[0][0]), 10, 32)
	if err != nil {
		return fmt.Errorf("look up the vector type: %w", err)
	}
	conn.TypeMap().RegisterType(&pgtype.Type{Name: "vector", OID: uint32(oid), Codec: vectorCodec{}})
	return nil
}

// vectorCodec is pgvector's binary format for pgvector.Vector: a uint16
// dimension count, a uint16 zero, then the float32s, big-endian
// (vector_send in pgvector's vector.c). It scans into *pgvector.Vector, a
// *string gets the text form, and so does any sql.Scanner (ent's
// NullScanner for a nullable embedding, a database/sql row), which
// pgvector.Vector.Scan reads.
type vectorCodec struct{}

func (vectorCodec) FormatSupported(format int16) bool {
	return format == pgx.BinaryFormatCode || format == pgx.TextFormatCode
}

func (vectorCodec) PreferredFormat() int16 { return pgx.BinaryFormatCode }

func (vectorCodec) PlanEncode(_ *pgtype.Map, _ uint32, format int16, value any) pgtype.EncodePlan {
	if _, ok := value.(pgvector.Vector); !ok {
		return nil
	}
	if format == pgx.BinaryFormatCode {
		return encodeVectorBinary{}
	}
	return encodeVectorText{}
}

type encodeVectorBinary struct{}

func (encodeVectorBinary) Encode(value any, buf []byte) ([]byte, error) {
	return value.(pgvector.Vector).EncodeBinary(buf)
}

type encodeVectorText struct{}

func (encodeVectorText) Encode(value any, buf []byte) ([]byte, error) {
	return append(buf, value.(pgvector.Vector).String()...), nil
}

func (vectorCodec) PlanScan(_ *pgtype.Map, _ uint32, format int16, target any) pgtype.ScanPlan {
	switch target.(type) {
	case *pgvector.Vector:
		if format == pgx.BinaryFormatCode {
			return scanVectorBinary{}
		}
		return scanVectorText{}
	case *string:
		// Its text form, as before the codec (pgx scans text into a string).
		if format == pgx.BinaryFormatCode {
			return scanVectorString{}
		}
	}
	return nil
}

type scanVectorString struct{}

func (scanVectorString) Scan(src []byte, dst any) error {
	if src == nil {
		return errors.New("cannot scan NULL into *string")
	}
	var v pgvector.Vector
	if err := (scanVectorBinary{}).Scan(src, &v); err != nil {
		return err
	}
	*dst.(*string) = v.String()
	return nil
}

// errNullVector is a NULL scanned into a pgvector.Vector, refused as the
// text path refused it: a nullable column needs a nullable target (ent's
// NullScanner).
var errNullVector = errors.New("cannot scan NULL into *pgvector.Vector")

type scanVectorBinary struct{}

func (scanVectorBinary) Scan(src []byte, dst any) error {
	if src == nil {
		return errNullVector
	}
	if len(src) < 4 || len(src) != 4+4*int(uint16(src[0])<<8|uint16(src[1])) {
		return fmt.Errorf("vector: binary value of %d bytes does not match its dimension count", len(src))
	}
	return dst.(*pgvector.Vector).DecodeBinary(src)
}

type scanVectorText struct{}

func (scanVectorText) Scan(src []byte, dst any) error {
	if src == nil {
		return errNullVector
	}
	return dst.(*pgvector.Vector).Scan(src)
}

// DecodeDatabaseSQLValue is the text form, for sql.Scanner targets.
func (c vectorCodec) DecodeDatabaseSQLValue(m *pgtype.Map, oid uint32, format int16, src []byte) (driver.Value, error) {
	if src == nil {
		return nil, nil
	}
	if format == pgx.TextFormatCode {
		return string(src), nil
	}
	v, err := c.DecodeValue(m, oid, format, src)
	if err != nil {
		return nil, err
	}
	return v.(pgvector.Vector).String(), nil
}

func (vectorCodec) DecodeValue(_ *pgtype.Map, _ uint32, format int16, src []byte) (any, error) {
	if src == nil {
		return nil, nil
	}
	var v pgvector.Vector
	var err error
	if format == pgx.BinaryFormatCode {
		err = scanVectorBinary{}.Scan(src, &v)
	} else {
		err = v.Scan(src)
	}
	if err != nil {
		return nil, err
	}
	return v, nil
}
