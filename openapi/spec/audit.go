package spec

import (
	"net/http"

	"github.com/ogen-go/ogen"
)

// The audit module's operations: the caller's own audit log, listed with
// filters; reads by id are the entity's CRUD read.
func init() {
	when := func(name, desc string) *ogen.Parameter {
		return ogen.NewParameter().SetName(name).SetIn("query").SetDescription(desc).SetSchema(ogen.DateTime())
	}
	Register(Module{
		Group: "Audit",
		Operations: []Operation{
			{Method: http.MethodGet, Path: "/v1/audit-events", ID: "listAuditEvents",
				Summary: "List your audit events, newest first",
				Params: append(PageParams(),
					ogen.NewParameter().SetName("type").SetIn("query").SetDescription("Only events of this type").
						SetSchema(Ref("AuditEventType")),
					when("since", "Only events at or after this instant"),
					when("until", "Only events before this instant"),
				),
				Result: "AuditEventPage", Errors: []int{http.StatusBadRequest}},
		},
		Schemas: map[string]*ogen.Schema{"AuditEventPage": PageOf("AuditEvent")},
	})
}
