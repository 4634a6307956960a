package erpsim

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"strings"

	"github.com/tandemsync/tandem/customerp"
)

// uiRows bounds the records listed per resource on the page.
const uiRows = 200

var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="3">
<title>CustomERP reference server</title>
<style>
body { font-family: system-ui, sans-serif; margin: 1.5rem; color: #222; }
h1 { font-size: 1.3rem; } h2 { font-size: 1.1rem; margin-top: 1.8rem; }
table { border-collapse: collapse; font-size: 0.85rem; }
th, td { border-bottom: 1px solid #ddd; padding: 0.2rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.muted { color: #777; }
</style>
</head>
<body>
<h1>CustomERP reference server</h1>
<p class="muted">Read-only view; refreshes every 3 seconds. API requests so far: {{.Total}}. The contract: <a href="/openapi.yaml">openapi.yaml</a>.</p>
{{range .Sections}}
<h2 id="{{.Name}}">{{.Name}} <span class="muted">({{.Count}} records, {{.Changes}} feed entries{{if .Truncated}}; the first {{len .Rows}} shown{{end}})</span></h2>
{{if .Rows}}
<table>
<tr><th>id</th><th>version</th><th>updatedAt</th><th>externalRef</th><th>summary</th></tr>
{{range .Rows}}<tr><td>{{.ID}}</td><td class="num">{{.Version}}</td><td>{{.UpdatedAt}}</td><td>{{.ExternalRef}}</td><td>{{.Summary}}</td></tr>
{{end}}</table>
{{else}}<p class="muted">none</p>{{end}}
{{end}}
</body>
</html>
`))

type uiRow struct {
	ID, UpdatedAt, ExternalRef, Summary string
	Version                             int64
}

type uiSection struct {
	Name           string
	Count, Changes int64
	Truncated      bool
	Rows           []uiRow
}

// serveUI renders the read-only HTML page listing every resource's records.
func (s *Server) serveUI(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	data, err := s.pageData(r.Context())
	if err != nil {
		s.log.Error("erpsim: render page", "err", err)
		http.Error(w, "cannot read the database", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := pageTemplate.Execute(w, data); err != nil {
		s.log.Error("erpsim: render page", "err", err)
	}
}

func (s *Server) pageData(ctx context.Context) (any, error) {
	counts, changes, err := s.store.counts(ctx)
	if err != nil {
		return nil, err
	}
	var sections []uiSection
	for _, res := range customerp.Resources() {
		recs, _, more, err := s.store.list(ctx, res, nil, 0, uiRows)
		if err != nil {
			return nil, err
		}
		sec := uiSection{Name: string(res), Count: counts[string(res)], Changes: changes[string(res)], Truncated: more}
		for _, rec := range recs {
			id, _ := rec["id"].(string)
			at, _ := rec["updatedAt"].(string)
			ref, _ := rec["externalRef"].(string)
			sec.Rows = append(sec.Rows, uiRow{ID: id, Version: mustInt(rec["version"]), UpdatedAt: at, ExternalRef: ref, Summary: summary(res, rec)})
		}
		sections = append(sections, sec)
	}
	return struct {
		Total    int64
		Sections []uiSection
	}{s.Stats().Total, sections}, nil
}

// summary is a one-line description of a record for the page.
func summary(res customerp.Resource, rec map[string]any) string {
	var parts []string
	add := func(keys ...string) {
		for _, k := range keys {
			if v := rec[k]; v != nil {
				parts = append(parts, fmt.Sprintf("%s=%v", k, v))
			}
		}
	}
	switch res {
	case customerp.Customers:
		add("name", "organisationNumber", "email")
		if a, ok := rec["postalAddress"].(map[string]any); ok && a["city"] != nil {
			parts = append(parts, fmt.Sprintf("city=%v", a["city"]))
		}
	case customerp.Contacts:
		add("contactType", "firstName", "lastName", "email", "customerId")
	case customerp.Products:
		add("productNumber", "name", "salesPrice", "unit")
	case customerp.Orders:
		add("orderNumber", "customerId", "status", "currency", "totalAmount")
		if ls, ok := rec["lines"].([]any); ok {
			parts = append(parts, fmt.Sprintf("lines=%d", len(ls)))
		}
	case customerp.OrderLines:
		add("orderId", "productNumber", "quantity", "unitPrice", "description")
	}
	return strings.Join(parts, "  ")
}
