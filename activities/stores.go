package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/tandemsync/tandem/customerp"
	"github.com/tandemsync/tandem/domain"
	"github.com/tandemsync/tandem/mappings"
	"github.com/tandemsync/tandem/webcrm"
)

// record is one side's record as the apply step sees it.
type record struct {
	fields    map[string]any
	version   string    // webCRM UpdatedAt (RFC 3339) or ERP version
	updatedAt time.Time // for the "newest wins" rule
	gone      bool      // deleted (tombstone, 404 or reported by reconcile)
	// delivered marks a record that came with the change rather than from a
	// read just now; a write must not be based on it.
	delivered bool
	// readBack marks a record read from the server after tandem wrote it: it
	// says what the server stored.
	readBack bool
}

// store reads and writes one pairing's records on one side, so the apply
// step can treat both sides alike.
type store interface {
	side() domain.Side
	label() string // "webCRM Organisations", "ERP customers"
	get(ctx context.Context, id string) (record, error)
	decode(raw json.RawMessage) (record, error)
	find(ctx context.Context, property, value string) ([]string, error)
	create(ctx context.Context, body map[string]any, token string) (id string, rec record, err error)
	update(ctx context.Context, id string, current record, changes map[string]any) (record, error)
	remove(ctx context.Context, id string) error
	// token returns the correlation token tandem left on a record it created
	// (the home link ID), or "".
	token(fields map[string]any) string
}

// errGone marks a record that no longer exists.
var errGone = errors.New("record is gone")

func (a *Activities) stores(p *mappings.Pairing, cache *lookups) (webcrmStore, erpStore) {
	return webcrmStore{c: a.WebCRM, entity: webcrm.Entity(p.WebCRMEntity), correlation: p.CorrelationField, cache: cache},
		erpStore{c: a.ERP, resource: customerp.Resource(p.ERPResource)}
}

type webcrmStore struct {
	c           *webcrm.Client
	entity      webcrm.Entity
	correlation string
	cache       *lookups // the batch's prefetched match candidates, or nil
}

func (s webcrmStore) side() domain.Side { return domain.WebCRM }
func (s webcrmStore) label() string     { return "webCRM " + string(s.entity) }

func (s webcrmStore) id(id string) (int, error) {
	n, err := strconv.Atoi(id)
	if err != nil || n <= 0 {
		return 0, permanent(fmt.Errorf("%s id %q is not a positive whole number", s.label(), id), errTypeValidation)
	}
	return n, nil
}

func (s webcrmStore) toRecord(rec webcrm.Record) (record, error) {
	at, err := rec.UpdatedAt(s.entity)
	if err != nil {
		return record{}, permanent(fmt.Errorf("%s record has no readable %s: %w", s.label(), s.entity.UpdatedAtField(), err), errTypeValidation)
	}
	return record{fields: rec, version: webcrmVersion(at), updatedAt: at}, nil
}

// webcrmVersion is the version string of a webCRM record: its UpdatedAt.
func webcrmVersion(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func (s webcrmStore) get(ctx context.Context, id string) (record, error) {
	n, err := s.id(id)
	if err != nil {
		return record{}, err
	}
	if rec, ok := s.cache.record(id); ok {
		// Read moments ago by the prefetch; a write still reads it afresh.
		r, err := s.toRecord(rec)
		r.delivered = true
		return r, err
	}
	rec, err := s.c.Get(ctx, s.entity, n)
	if webcrm.IsNotFound(err) {
		return record{gone: true}, nil
	}
	if err != nil {
		return record{}, err
	}
	return s.toRecord(rec)
}

func (s webcrmStore) decode(raw json.RawMessage) (record, error) {
	var rec webcrm.Record
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&rec); err != nil {
		return record{}, fmt.Errorf("decode delivered %s record: %w", s.label(), err)
	}
	r, err := s.toRecord(rec)
	r.delivered = true
	return r, err
}

func (s webcrmStore) find(ctx context.Context, property, value string) ([]string, error) {
	recs, err := s.c.FindBy(ctx, s.entity, property, value)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(recs))
	for _, r := range recs {
		id, err := r.ID(s.entity)
		if err != nil {
			return nil, fmt.Errorf("%s look-up by %s returned a record without id: %w", s.label(), property, err)
		}
		ids = append(ids, strconv.Itoa(id))
	}
	return ids, nil
}

func (s webcrmStore) create(ctx context.Context, body map[string]any, token string) (string, record, error) {
	stored, err := s.c.CreateRecord(ctx, s.entity, webcrm.Record(body), token)
	if err != nil {
		return "", record{}, err
	}
	id, err := stored.ID(s.entity)
	if err != nil {
		return "", record{}, fmt.Errorf("%s created, but read back without an id: %w", s.label(), err)
	}
	rec, err := s.toRecord(stored)
	if err != nil {
		return "", record{}, err
	}
	rec.readBack = true
	return strconv.Itoa(id), rec, nil
}

func (s webcrmStore) update(ctx context.Context, id string, current record, changes map[string]any) (record, error) {
	n, err := s.id(id)
	if err != nil {
		return record{}, err
	}
	var rec webcrm.Record
	if current.fields != nil && !current.delivered && !current.gone {
		// Read moments ago in this apply: PUT on top of it without reading again.
		rec, err = s.c.Replace(ctx, s.entity, n, webcrm.Record(current.fields), webcrm.Record(changes))
	} else {
		rec, err = s.c.Update(ctx, s.entity, n, webcrm.Record(changes))
	}
	if err != nil {
		return record{}, err
	}
	// The PUT answers nothing: read the record back, for its new UpdatedAt and
	// for what webCRM made of the values (it may cut or reformat them). When
	// the read fails the write still stands; the poll that sees it reads it.
	stored, err := s.c.Get(ctx, s.entity, n)
	if err != nil {
		return record{fields: rec}, nil
	}
	r, err := s.toRecord(stored)
	if err != nil {
		return record{fields: rec}, nil
	}
	r.readBack = true
	return r, nil
}

func (s webcrmStore) remove(ctx context.Context, id string) error {
	n, err := s.id(id)
	if err != nil {
		return err
	}
	err = s.c.Delete(ctx, s.entity, n)
	if webcrm.IsNotFound(err) {
		return nil
	}
	return err
}

func (s webcrmStore) token(fields map[string]any) string {
	if s.correlation == "" {
		return ""
	}
	v, _ := fields[s.correlation].(string)
	return v
}

type erpStore struct {
	c        *customerp.Client
	resource customerp.Resource
}

func (s erpStore) side() domain.Side { return domain.ERP }
func (s erpStore) label() string     { return "ERP " + string(s.resource) }

func (s erpStore) toRecord(rec customerp.Record) (record, error) {
	v, err := erpVersion(rec)
	if err != nil {
		return record{}, fmt.Errorf("%s record: %w", s.label(), err)
	}
	r := record{fields: rec, version: v}
	if at, ok := rec["updatedAt"].(string); ok {
		if t, err := time.Parse(time.RFC3339Nano, at); err == nil {
			r.updatedAt = t.UTC()
		}
	}
	return r, nil
}

// erpVersion reads a record's version as a string.
func erpVersion(rec map[string]any) (string, error) {
	switch v := rec["version"].(type) {
	case json.Number:
		return v.String(), nil
	case float64:
		return strconv.FormatInt(int64(v), 10), nil
	case int64:
		return strconv.FormatInt(v, 10), nil
	case int:
		return strconv.Itoa(v), nil
	}
	return "", fmt.Errorf("no readable version (got %T)", rec["version"])
}

func (s erpStore) get(ctx context.Context, id string) (record, error) {
	rec, err := s.c.Get(ctx, s.resource, id)
	if customerp.IsNotFound(err) {
		return record{gone: true}, nil
	}
	if err != nil {
		return record{}, err
	}
	return s.toRecord(rec)
}

func (s erpStore) decode(raw json.RawMessage) (record, error) {
	var rec customerp.Record
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&rec); err != nil {
		return record{}, fmt.Errorf("decode delivered %s record: %w", s.label(), err)
	}
	return s.toRecord(rec)
}

func (s erpStore) find(ctx context.Context, property, value string) ([]string, error) {
	recs, err := s.c.Find(ctx, s.resource, property, value)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(recs))
	for _, r := range recs {
		id, _ := r["id"].(string)
		if id == "" {
			return nil, fmt.Errorf("%s look-up by %s returned a record without id", s.label(), property)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func (s erpStore) create(ctx context.Context, body map[string]any, token string) (string, record, error) {
	body["externalRef"] = token
	rec, err := s.c.Create(ctx, s.resource, customerp.Record(body), token)
	if err != nil {
		return "", record{}, err
	}
	r, err := s.toRecord(rec)
	if err != nil {
		return "", record{}, err
	}
	id, _ := rec["id"].(string)
	if id == "" {
		return "", record{}, fmt.Errorf("%s create returned no id", s.label())
	}
	r.readBack = true
	return id, r, nil
}

// readOnlyERPFields are the fields the server maintains; a PUT leaves them out.
var readOnlyERPFields = []string{"id", "version", "updatedAt", "createdAt", "totalAmount", "lines", "productId", "lineId"}

func (s erpStore) update(ctx context.Context, id string, current record, changes map[string]any) (record, error) {
	if current.fields == nil {
		fresh, err := s.get(ctx, id)
		if err != nil {
			return record{}, err
		}
		if fresh.gone {
			return record{}, fmt.Errorf("update %s %s: %w", s.label(), id, errGone)
		}
		current = fresh
	}
	body := make(map[string]any, len(current.fields))
	for k, v := range current.fields {
		body[k] = v
	}
	for _, k := range readOnlyERPFields {
		delete(body, k)
	}
	deepMerge(body, changes)
	version, err := strconv.ParseInt(current.version, 10, 64)
	if err != nil {
		return record{}, fmt.Errorf("update %s %s: version %q is not a number", s.label(), id, current.version)
	}
	rec, err := s.c.Update(ctx, s.resource, id, customerp.Record(body), version)
	if err != nil {
		return record{}, err
	}
	r, err := s.toRecord(rec)
	r.readBack = err == nil
	return r, err
}

// deepMerge overlays src onto dst, merging nested objects key by key.
func deepMerge(dst, src map[string]any) {
	for k, v := range src {
		sub, ok := v.(map[string]any)
		if !ok {
			dst[k] = v
			continue
		}
		cur, ok := dst[k].(map[string]any)
		if !ok {
			cur = map[string]any{}
		} else {
			copied := make(map[string]any, len(cur))
			for ck, cv := range cur {
				copied[ck] = cv
			}
			cur = copied
		}
		deepMerge(cur, sub)
		dst[k] = cur
	}
}

func (s erpStore) remove(ctx context.Context, id string) error {
	err := s.c.Delete(ctx, s.resource, id)
	if customerp.IsNotFound(err) {
		return nil
	}
	return err
}

func (s erpStore) token(fields map[string]any) string {
	v, _ := fields["externalRef"].(string)
	if strings.HasPrefix(v, "link/") {
		return v
	}
	return ""
}
