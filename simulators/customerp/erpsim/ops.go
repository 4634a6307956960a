package erpsim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"unicode"

	"github.com/cockroachdb/apd/v3"

	"github.com/tandemsync/tandem/customerp"
)

// lookupKeys returns the look-up index entries of a record of r: the list filters of the
// contract plus the references the server checks before a delete.
func lookupKeys(r customerp.Resource, rec map[string]any) map[string]string {
	str := func(k string) string { s, _ := rec[k].(string); return s }
	keys := map[string]string{"externalRef": str("externalRef")}
	switch r {
	case customerp.Customers:
		keys["organisationNumber"] = normalizeFilter("organisationNumber", str("organisationNumber"))
		keys["customerNumber"] = str("customerNumber")
		keys["email"] = normalizeFilter("email", str("email"))
	case customerp.Contacts:
		keys["email"] = normalizeFilter("email", str("email"))
		keys["contactType"] = str("contactType")
		keys["customerId"] = str("customerId")
	case customerp.Products:
		keys["productNumber"] = str("productNumber")
	case customerp.Orders:
		keys["customerId"] = str("customerId")
		keys["orderNumber"] = str("orderNumber")
		keys["contactId"] = str("contactId")
		keys["salesRepContactId"] = str("salesRepContactId")
	case customerp.OrderLines:
		keys["orderId"] = str("orderId")
		keys["productNumber"] = str("productNumber")
		keys["productId"] = str("productId")
	}
	return keys
}

// normalizeFilter brings a look-up value into the form it is indexed in: organisation numbers
// without case, spaces or punctuation; e-mail addresses in lower case; others as they are.
func normalizeFilter(name, v string) string {
	switch name {
	case "organisationNumber":
		var b strings.Builder
		for _, r := range v {
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				b.WriteRune(unicode.ToUpper(r))
			}
		}
		return b.String()
	case "email":
		return strings.ToLower(strings.TrimSpace(v))
	}
	return v
}

// rules checks what the schema alone cannot say about one body (400).
func rules(r customerp.Resource, rec map[string]any) error {
	if r == customerp.Contacts && rec["contactType"] == "person" && rec["customerId"] == nil {
		return validationError([]customerp.FieldError{{Field: "customerId", Message: "is required when contactType is person"}})
	}
	return nil
}

// checkRefs checks that the records rec points at exist (422), and completes an order line's
// product reference from whichever of productId and productNumber it has. prev is the stored
// record on replace, nil on create.
func (t *tx) checkRefs(r customerp.Resource, rec, prev map[string]any) error {
	var fields []customerp.FieldError
	ref := func(field string, target customerp.Resource) error {
		id, ok := rec[field].(string)
		if !ok {
			return nil
		}
		found, err := t.exists(target, id)
		if err != nil {
			return err
		}
		if !found {
			fields = append(fields, customerp.FieldError{Field: field, Message: fmt.Sprintf("%s/%s does not exist", target, id)})
		}
		return nil
	}
	var err error
	switch r {
	case customerp.Contacts:
		err = ref("customerId", customerp.Customers)
	case customerp.Orders:
		err = errors.Join(ref("customerId", customerp.Customers), ref("contactId", customerp.Contacts), ref("salesRepContactId", customerp.Contacts))
	case customerp.OrderLines:
		err = errors.Join(ref("orderId", customerp.Orders), ref("productId", customerp.Products))
		if err == nil && prev != nil && prev["orderId"] != rec["orderId"] {
			fields = append(fields, customerp.FieldError{Field: "orderId", Message: fmt.Sprintf("a line cannot move to another order (it belongs to %v)", prev["orderId"])})
		}
		if err == nil && len(fields) == 0 {
			err = t.completeProduct(rec)
		}
	}
	if err != nil {
		return err
	}
	if len(fields) > 0 {
		return unprocessable("the body refers to records that do not exist or cannot be changed", fields...)
	}
	return nil
}

// completeProduct fills an order line's productId from its productNumber, or its
// productNumber from its productId, when only one is given.
func (t *tx) completeProduct(line map[string]any) error {
	pid, hasID := line["productId"].(string)
	pnum, hasNum := line["productNumber"].(string)
	switch {
	case hasID && !hasNum:
		p, ok, err := t.get(customerp.Products, pid)
		if err != nil || !ok {
			return err
		}
		if n, isStr := p["productNumber"].(string); isStr {
			line["productNumber"] = n
		}
	case hasNum && !hasID:
		ids, err := t.lookup(customerp.Products, "productNumber", pnum)
		if err != nil {
			return err
		}
		if len(ids) > 0 {
			sortIDs(customerp.Products, ids)
			line["productId"] = ids[0]
		}
	}
	return nil
}

func sortIDs(r customerp.Resource, ids []string) {
	sort.Slice(ids, func(i, j int) bool {
		a, _ := idNumber(r, ids[i])
		b, _ := idNumber(r, ids[j])
		return a < b
	})
}

// bodyHash identifies a normalised write body for the idempotency check.
func bodyHash(r customerp.Resource, norm map[string]any) string {
	b, _ := json.Marshal(norm)
	h := sha256.Sum256(append([]byte(string(r)+"\n"), b...))
	return hex.EncodeToString(h[:])
}

// create validates body and stores it as a new record of r. With a key, a repeat of the same
// body returns the first record (replayed=true).
func (s *Server) create(ctx context.Context, r customerp.Resource, body map[string]any, key string) (rec map[string]any, replayed bool, err error) {
	norm, err := s.v.normalize(r, body)
	if err != nil {
		return nil, false, err
	}
	if err := rules(r, norm); err != nil {
		return nil, false, err
	}
	hash := bodyHash(r, norm)
	err = s.store.write(ctx, func(t *tx) error {
		if key != "" {
			res, h, id, found, err := t.idempotent(key)
			if err != nil {
				return err
			}
			if found {
				if res != string(r) || h != hash {
					return unprocessable("this Idempotency-Key was used before with another body",
						customerp.FieldError{Field: "Idempotency-Key", Message: "already used for a different create"})
				}
				cur, ok, err := t.get(r, id)
				if err != nil {
					return err
				}
				if !ok {
					return &apiError{status: http.StatusConflict, kind: "conflict",
						detail: fmt.Sprintf("the record created with this Idempotency-Key, %s/%s, has been deleted since", r, id)}
				}
				rec, replayed = cur, true
				return nil
			}
		}
		created, err := t.insert(r, norm)
		if err != nil {
			return err
		}
		if key != "" {
			if err := t.rememberKey(key, r, hash, created["id"].(string)); err != nil {
				return err
			}
		}
		rec = created
		return nil
	})
	return rec, replayed, err
}

// insert stores norm (a validated body) as a new record of r, within t.
func (t *tx) insert(r customerp.Resource, norm map[string]any) (map[string]any, error) {
	rec := cloneMap(norm)
	if err := t.checkRefs(r, rec, nil); err != nil {
		return nil, err
	}
	id, _, err := t.newID(r)
	if err != nil {
		return nil, err
	}
	return t.commitRecord(r, id, 1, rec, []any{})
}

// commitRecord completes rec (validated writable fields) as version `version` of r/id, with
// the server-computed fields (an order's lines, as given, and total; a line's lineId), stores
// it, and gives a line's order a new version.
func (t *tx) commitRecord(r customerp.Resource, id string, version int64, rec map[string]any, lines any) (map[string]any, error) {
	rec["id"] = id
	rec["version"] = version
	rec["updatedAt"] = t.atText()
	switch r {
	case customerp.Orders:
		rec["lines"] = lines
		rec["totalAmount"] = orderTotal(rec, lines)
	case customerp.OrderLines:
		rec["lineId"] = id
	}
	if err := t.save(r, rec, lookupKeys(r, rec)); err != nil {
		return nil, err
	}
	switch r {
	case customerp.OrderLines:
		if err := t.refreshOrder(rec["orderId"].(string)); err != nil {
			return nil, err
		}
	case customerp.Products:
		if err := t.adoptLines(rec); err != nil {
			return nil, err
		}
	}
	return rec, nil
}

// adoptLines gives the order lines that name a product number nobody had
// the product that now has it, as an ERP resolves an item number entered
// before the item existed; each such line and its order get a new version.
func (t *tx) adoptLines(product map[string]any) error {
	num, _ := product["productNumber"].(string)
	pid, _ := product["id"].(string)
	if num == "" || pid == "" {
		return nil
	}
	ids, err := t.lookup(customerp.OrderLines, "productNumber", num)
	if err != nil {
		return err
	}
	for _, id := range ids {
		line, ok, err := t.get(customerp.OrderLines, id)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if have, _ := line["productId"].(string); have != "" {
			continue
		}
		line["productId"] = pid
		if _, err := t.commitRecord(customerp.OrderLines, id, mustInt(line["version"])+1, line, nil); err != nil {
			return err
		}
	}
	return nil
}

// noIfMatch means "no version condition" for replace and remove.
const noIfMatch = int64(-1)

// replace validates body and stores it as record r/id, if that record is at version ifMatch
// (or unconditionally with noIfMatch). A body equal to what is stored changes nothing.
func (s *Server) replace(ctx context.Context, r customerp.Resource, id string, body map[string]any, ifMatch int64) (map[string]any, error) {
	norm, err := s.v.normalize(r, body)
	if err != nil {
		return nil, err
	}
	if err := rules(r, norm); err != nil {
		return nil, err
	}
	var rec map[string]any
	err = s.store.write(ctx, func(t *tx) error {
		rec, err = t.replace(s.v, r, id, norm, ifMatch)
		return err
	})
	return rec, err
}

// patch applies a JSON merge patch (RFC 7396) to the writable fields of r/id and stores the
// result, like an edit in the ERP's own screens.
func (s *Server) patch(ctx context.Context, r customerp.Resource, id string, fields map[string]any) (map[string]any, error) {
	var rec map[string]any
	err := s.store.write(ctx, func(t *tx) error {
		cur, ok, err := t.get(r, id)
		if err != nil {
			return err
		}
		if !ok {
			return notFound(r, id)
		}
		merged := mergePatch(writableSubset(s.v, r, cur), fields).(map[string]any)
		norm, err := s.v.normalize(r, merged)
		if err != nil {
			return err
		}
		if err := rules(r, norm); err != nil {
			return err
		}
		rec, err = t.replace(s.v, r, id, norm, noIfMatch)
		return err
	})
	return rec, err
}

func (t *tx) replace(v *validator, r customerp.Resource, id string, norm map[string]any, ifMatch int64) (map[string]any, error) {
	cur, ok, err := t.get(r, id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, notFound(r, id)
	}
	version := mustInt(cur["version"])
	if err := checkVersion(r, id, version, ifMatch); err != nil {
		return nil, err
	}
	rec := cloneMap(norm)
	if err := t.checkRefs(r, rec, cur); err != nil {
		return nil, err
	}
	if sameJSON(rec, writableSubset(v, r, cur)) {
		return cur, nil
	}
	return t.commitRecord(r, id, version+1, rec, cur["lines"])
}

// checkVersion answers 412 when a record at version is written based on another version.
func checkVersion(r customerp.Resource, id string, version, ifMatch int64) error {
	if ifMatch == noIfMatch || version == ifMatch {
		return nil
	}
	return &apiError{status: http.StatusPreconditionFailed, kind: "stale", current: version,
		detail: fmt.Sprintf("%s/%s is at version %d, not %d", r, id, version, ifMatch)}
}

// remove deletes r/id (if at version ifMatch, unless noIfMatch). Records others point at are
// not deleted (409); an order takes its lines with it; a line's order gets a new version.
func (s *Server) remove(ctx context.Context, r customerp.Resource, id string, ifMatch int64) error {
	return s.store.write(ctx, func(t *tx) error {
		cur, ok, err := t.get(r, id)
		if err != nil {
			return err
		}
		if !ok {
			return notFound(r, id)
		}
		if err := checkVersion(r, id, mustInt(cur["version"]), ifMatch); err != nil {
			return err
		}
		if err := t.checkUnreferenced(r, id); err != nil {
			return err
		}
		if r == customerp.Orders {
			lines, err := t.lookup(customerp.OrderLines, "orderId", id)
			if err != nil {
				return err
			}
			sortIDs(customerp.OrderLines, lines)
			for _, lid := range lines {
				line, ok, err := t.get(customerp.OrderLines, lid)
				if err != nil {
					return err
				}
				if ok {
					if err := t.remove(customerp.OrderLines, lid, line); err != nil {
						return err
					}
				}
			}
		}
		if err := t.remove(r, id, cur); err != nil {
			return err
		}
		if r == customerp.OrderLines {
			return t.refreshOrder(cur["orderId"].(string))
		}
		return nil
	})
}

// checkUnreferenced refuses (409) to delete a record that other live records point at.
func (t *tx) checkUnreferenced(r customerp.Resource, id string) error {
	type ref struct {
		from customerp.Resource
		key  string
	}
	var refs []ref
	switch r {
	case customerp.Customers:
		refs = []ref{{customerp.Contacts, "customerId"}, {customerp.Orders, "customerId"}}
	case customerp.Contacts:
		refs = []ref{{customerp.Orders, "contactId"}, {customerp.Orders, "salesRepContactId"}}
	case customerp.Products:
		refs = []ref{{customerp.OrderLines, "productId"}}
	}
	var users []string
	for _, rf := range refs {
		ids, err := t.lookup(rf.from, rf.key, id)
		if err != nil {
			return err
		}
		for _, u := range ids {
			users = append(users, string(rf.from)+"/"+u)
		}
	}
	if len(users) == 0 {
		return nil
	}
	sort.Strings(users)
	if len(users) > 5 {
		users = append(users[:5], fmt.Sprintf("and %d more", len(users)-5))
	}
	return &apiError{status: http.StatusConflict, kind: "conflict",
		detail: fmt.Sprintf("%s/%s is still referred to by %s", r, id, strings.Join(users, ", "))}
}

// refreshOrder rebuilds order orderID's embedded lines and total and stores it as a new
// version: any line change is a change of its order.
func (t *tx) refreshOrder(orderID string) error {
	order, ok, err := t.get(customerp.Orders, orderID)
	if err != nil || !ok {
		return err
	}
	ids, err := t.lookup(customerp.OrderLines, "orderId", orderID)
	if err != nil {
		return err
	}
	type sortable struct {
		n    int64
		sort int64
		rec  map[string]any
	}
	var lines []sortable
	for _, id := range ids {
		l, ok, err := t.get(customerp.OrderLines, id)
		if err != nil {
			return err
		}
		if ok {
			n, _ := idNumber(customerp.OrderLines, id)
			lines = append(lines, sortable{n: n, sort: mustInt(l["sortOrder"]), rec: l})
		}
	}
	sort.Slice(lines, func(i, j int) bool {
		if lines[i].sort != lines[j].sort {
			return lines[i].sort < lines[j].sort
		}
		return lines[i].n < lines[j].n
	})
	embedded := make([]any, 0, len(lines))
	for _, l := range lines {
		embedded = append(embedded, l.rec)
	}
	order["lines"] = embedded
	order["totalAmount"] = orderTotal(order, embedded)
	order["version"] = mustInt(order["version"]) + 1
	order["updatedAt"] = t.atText()
	return t.save(customerp.Orders, order, lookupKeys(customerp.Orders, order))
}

// orderTotal is the sum of quantity × unitPrice × (1 − discountPercent/100) over the lines,
// less the order's discount percent, rounded half up to 2 decimals.
func orderTotal(order map[string]any, lines any) json.Number {
	sum := apd.New(0, 0)
	hundred := apd.New(100, 0)
	ls, _ := lines.([]any)
	for _, l := range ls {
		line, ok := l.(map[string]any)
		if !ok {
			continue
		}
		amount := new(apd.Decimal)
		_, _ = decimalCtx.Mul(amount, decimalOf(line["quantity"]), decimalOf(line["unitPrice"]))
		if line["discountPercent"] != nil {
			factor := new(apd.Decimal)
			_, _ = decimalCtx.Sub(factor, hundred, decimalOf(line["discountPercent"]))
			_, _ = decimalCtx.Mul(amount, amount, factor)
			_, _ = decimalCtx.Quo(amount, amount, hundred)
		}
		_, _ = decimalCtx.Add(sum, sum, amount)
	}
	if order["discount"] != nil {
		factor := new(apd.Decimal)
		_, _ = decimalCtx.Sub(factor, hundred, decimalOf(order["discount"]))
		_, _ = decimalCtx.Mul(sum, sum, factor)
		_, _ = decimalCtx.Quo(sum, sum, hundred)
	}
	return json.Number(decimalText(roundTo2(sum)))
}

// writableSubset returns the writable top-level fields of a stored record.
func writableSubset(v *validator, r customerp.Resource, rec map[string]any) map[string]any {
	out := map[string]any{}
	for _, k := range v.writableKeys(r) {
		out[k] = rec[k]
	}
	return out
}

func sameJSON(a, b map[string]any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}

// mergePatch applies an RFC 7396 merge patch.
func mergePatch(target any, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	} else {
		t = cloneMap(t)
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
			continue
		}
		t[k] = mergePatch(t[k], v)
	}
	return t
}

func cloneMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			out[k] = cloneMap(sub)
		} else {
			out[k] = v
		}
	}
	return out
}
