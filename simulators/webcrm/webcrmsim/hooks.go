package webcrmsim

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// hook is one webhook subscription (the swagger's <Entity>HookDto).
type hook struct {
	ID        int64    `json:"Id"`
	Entity    string   `json:"-"`
	EventType string   `json:"EventType,omitempty"`
	TargetURL string   `json:"TargetUrl"`
	IsEnabled bool     `json:"IsEnabled"`
	Filter    []string `json:"Filter"`
	CreatedAt string   `json:"CreatedAt,omitempty"`
	CreatedBy string   `json:"CreatedBy,omitempty"`
	UpdatedAt string   `json:"UpdatedAt,omitempty"`
	UpdatedBy string   `json:"UpdatedBy,omitempty"`
}

var hookEventTypes = []string{"Create", "Update", "Delete"}

// decodeHook validates a hook DTO body. Filter values must be the entity's
// swagger enum; an empty or missing Filter means All. EventType empty means
// every event. IsEnabled and TargetUrl (absolute http or https) are required.
func decodeHook(e *entity, obj map[string]any) (*hook, error) {
	h := &hook{Entity: e.Name, Filter: []string{}}
	seen := map[string]bool{}
	for _, k := range sortedKeys(obj) {
		v := obj[k]
		switch strings.ToLower(k) {
		case "id":
			if v != nil {
				n, ok := toInt(v)
				if !ok {
					return nil, badRequest("Invalid %s: property Id: expected int64, got %s", e.HookDTO, jsonTypeName(v))
				}
				h.ID = n
			}
		case "eventtype":
			if v == nil {
				continue
			}
			s, ok := v.(string)
			if !ok {
				return nil, badRequest("Invalid %s: property EventType: expected enum string, got %s", e.HookDTO, jsonTypeName(v))
			}
			h.EventType = ""
			for _, et := range hookEventTypes {
				if strings.EqualFold(et, s) {
					h.EventType = et
				}
			}
			if h.EventType == "" && s != "" {
				return nil, badRequest("Invalid %s: property EventType: %q is not one of Create, Update, Delete", e.HookDTO, s)
			}
		case "targeturl":
			s, ok := v.(string)
			if !ok {
				return nil, badRequest("Invalid %s: property TargetUrl: expected string, got %s", e.HookDTO, jsonTypeName(v))
			}
			u, err := url.Parse(s)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return nil, badRequest("Invalid %s: property TargetUrl: %q is not an absolute http(s) URL", e.HookDTO, s)
			}
			h.TargetURL = s
			seen["targeturl"] = true
		case "isenabled":
			b, ok := v.(bool)
			if !ok {
				return nil, badRequest("Invalid %s: property IsEnabled: expected boolean, got %s", e.HookDTO, jsonTypeName(v))
			}
			h.IsEnabled = b
			seen["isenabled"] = true
		case "filter":
			if v == nil {
				continue
			}
			arr, ok := v.([]any)
			if !ok {
				return nil, badRequest("Invalid %s: property Filter: expected array, got %s", e.HookDTO, jsonTypeName(v))
			}
			for _, it := range arr {
				s, _ := it.(string)
				canon := ""
				for _, f := range e.HookFilters {
					if strings.EqualFold(f, s) {
						canon = f
					}
				}
				if canon == "" {
					return nil, badRequest("Invalid %s: property Filter: %v is not one of %s", e.HookDTO, it, strings.Join(e.HookFilters, ", "))
				}
				h.Filter = append(h.Filter, canon)
			}
		case "createdat", "createdby", "updatedat", "updatedby":
			// Server-maintained.
		default:
			return nil, badRequest("Unknown property %q for %s.", k, e.HookDTO)
		}
	}
	if !seen["targeturl"] {
		return nil, badRequest("Invalid %s: TargetUrl is required.", e.HookDTO)
	}
	if !seen["isenabled"] {
		return nil, badRequest("Invalid %s: IsEnabled is required.", e.HookDTO)
	}
	return h, nil
}

// hooksOfLocked returns the entity's hooks ordered by id.
func (s *Server) hooksOfLocked(e *entity) []*hook {
	var out []*hook
	for _, h := range s.hooks {
		if h.Entity == e.Name {
			out = append(out, h)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// restyle writes a hook's date-times in the request's time style.
func (h *hook) restyle(bh *behaviour) {
	if bh == nil || bh.times.mode == TimeStampsUTC {
		return
	}
	if h.CreatedAt != "" {
		h.CreatedAt = bh.times.format(h.CreatedAt)
	}
	if h.UpdatedAt != "" {
		h.UpdatedAt = bh.times.format(h.UpdatedAt)
	}
}

func (s *Server) handleHookList(w http.ResponseWriter, r *http.Request, e *entity, bh *behaviour) {
	page, size, err := paging(r)
	if err != nil {
		writeError(w, err)
		return
	}
	s.mu.RLock()
	all := s.hooksOfLocked(e)
	lo, hi := pageBounds(len(all), page, size)
	out := make([]hook, 0, hi-lo)
	for _, h := range all[lo:hi] {
		cp := *h
		cp.restyle(bh)
		out = append(out, cp)
	}
	s.mu.RUnlock()
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) hookLocked(e *entity, id int64) (*hook, error) {
	h, ok := s.hooks[id]
	if !ok || h.Entity != e.Name {
		return nil, notFound("%s hook %d was not found.", e.Table, id)
	}
	return h, nil
}

func (s *Server) handleHookGet(w http.ResponseWriter, _ *http.Request, e *entity, id int64, bh *behaviour) {
	s.mu.RLock()
	h, err := s.hookLocked(e, id)
	var cp hook
	if err == nil {
		cp = *h
		cp.restyle(bh)
	}
	s.mu.RUnlock()
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, cp)
}

// handleHookCreate answers POST /X/Hooks with the new id (int64).
func (s *Server) handleHookCreate(w http.ResponseWriter, r *http.Request, e *entity) {
	obj, err := readObject(r, s.opts.MaxBodyBytes)
	if err != nil {
		writeError(w, err)
		return
	}
	h, err := decodeHook(e, obj)
	if err != nil {
		writeError(w, err)
		return
	}
	if h.ID != 0 {
		writeError(w, badRequest("Id must be 0 on create (got %d).", h.ID))
		return
	}
	s.mu.Lock()
	h.ID = s.nextHook
	s.nextHook++
	stamp := s.stampLocked(nil)
	h.CreatedAt, h.UpdatedAt, h.CreatedBy, h.UpdatedBy = stamp, stamp, actorAPI, actorAPI
	s.hooks[h.ID] = h
	s.mu.Unlock()
	s.hooksChanged()
	writeJSON(w, http.StatusOK, h.ID)
}

// handleHookPut replaces a hook.
func (s *Server) handleHookPut(w http.ResponseWriter, r *http.Request, e *entity, id int64) {
	obj, err := readObject(r, s.opts.MaxBodyBytes)
	if err != nil {
		writeError(w, err)
		return
	}
	h, err := decodeHook(e, obj)
	if err != nil {
		writeError(w, err)
		return
	}
	if h.ID != 0 && h.ID != id {
		writeError(w, badRequest("Id %d in the body does not match the id %d in the path.", h.ID, id))
		return
	}
	s.mu.Lock()
	old, err := s.hookLocked(e, id)
	if err == nil {
		h.ID = id
		h.CreatedAt, h.CreatedBy = old.CreatedAt, old.CreatedBy
		h.UpdatedAt, h.UpdatedBy = s.stampLocked(nil), actorAPI
		s.hooks[id] = h
	}
	s.mu.Unlock()
	if err != nil {
		writeError(w, err)
		return
	}
	s.hooksChanged()
	writeEmpty(w)
}

func (s *Server) handleHookDelete(w http.ResponseWriter, _ *http.Request, e *entity, id int64) {
	s.mu.Lock()
	_, err := s.hookLocked(e, id)
	if err == nil {
		delete(s.hooks, id)
	}
	s.mu.Unlock()
	if err != nil {
		writeError(w, err)
		return
	}
	s.hooksChanged()
	writeEmpty(w)
}

func (s *Server) hooksChanged() {
	if s.persist != nil {
		s.persist.notify()
	}
}

// HookPayload is the JSON body the simulator POSTs to a hook's TargetUrl.
// webCRM does not publish its payload; this one is the simulator's own.
type HookPayload struct {
	EventType string `json:"EventType"` // Create, Update or Delete
	Entity    string `json:"Entity"`    // resource name, e.g. "Organisations"
	ID        int    `json:"Id"`        // record id
	HookID    int64  `json:"HookId"`    // the subscription that matched
	URL       string `json:"Url"`       // the record's API URL
	Timestamp string `json:"Timestamp"` // the write's timestamp (TimeLayout, or FaultConfig.TimeStamps' style)
}

// HookSecretHeader carries Options.HookSecret on every delivery.
const HookSecretHeader = "X-Tandem-Hook-Secret"

// delivery is one queued hook POST.
type delivery struct {
	url     string
	payload HookPayload
	style   string // hookStyleJSON ... (FaultConfig.HookBody)
	table   string // e.g. "Organisation", for the form body
	idField string // e.g. "OrganisationId", for the data body
}

// body encodes the delivery in its style; contentType is "" for no body.
func (dl delivery) body() (b []byte, contentType string, err error) {
	switch dl.style {
	case hookStyleEmpty:
		return nil, "", nil
	case hookStyleForm:
		v := url.Values{"id": {strconv.Itoa(dl.payload.ID)}, "type": {dl.table}}
		return []byte(v.Encode()), "application/x-www-form-urlencoded", nil
	case hookStyleResource:
		action := map[string]string{"Create": "created", "Update": "updated", "Delete": "deleted"}[dl.payload.EventType]
		b, err = json.Marshal(map[string]string{"resource": dl.payload.URL, "action": action})
	case hookStyleData:
		b, err = json.Marshal(map[string]map[string]int{"data": {dl.idField: dl.payload.ID}})
	default:
		b, err = json.Marshal(dl.payload)
	}
	if err != nil {
		return nil, "", fmt.Errorf("encode hook body: %w", err)
	}
	return b, "application/json", nil
}

// matchHooksLocked returns the deliveries a committed change triggers: every
// enabled hook of the entity whose EventType is empty or equal to the
// change's. Filter values other than All are accepted but act like All (the
// simulator has no notion of the calling user).
func (s *Server) matchHooksLocked(c change) []delivery {
	if len(s.hooks) == 0 {
		return nil
	}
	var out []delivery
	for _, h := range s.hooksOfLocked(c.ent) {
		if !h.IsEnabled || (h.EventType != "" && h.EventType != c.kind) {
			continue
		}
		style, times := s.faults.hookDelivery()
		out = append(out, delivery{url: h.TargetURL, style: style, table: c.ent.Table, idField: c.ent.IDField, payload: HookPayload{
			EventType: c.kind,
			Entity:    c.ent.Name,
			ID:        c.id,
			HookID:    h.ID,
			URL:       fmt.Sprintf("%s/%s/%d", s.base(), c.ent.Name, c.id),
			Timestamp: times.format(c.at),
		}})
	}
	return out
}

// hookDispatcher delivers hooks from a bounded queue with a few workers.
type hookDispatcher struct {
	s      *Server
	queue  chan delivery
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	client *http.Client
}

func newHookDispatcher(s *Server) *hookDispatcher {
	ctx, cancel := context.WithCancel(context.Background())
	d := &hookDispatcher{
		s:      s,
		queue:  make(chan delivery, s.opts.HookQueueSize),
		ctx:    ctx,
		cancel: cancel,
		client: &http.Client{Timeout: s.opts.HookTimeout},
	}
	for i := 0; i < s.opts.HookWorkers; i++ {
		rng := rand.New(rand.NewPCG(uint64(s.opts.Seed), uint64(i)+0x400c))
		d.wg.Add(1)
		go d.work(rng)
	}
	return d
}

// enqueue never blocks: when the queue is full or the dispatcher is closed
// the delivery is dropped and counted.
func (d *hookDispatcher) enqueue(dl delivery) {
	if d.ctx.Err() != nil {
		d.s.stats.hook(func(h *HookStats) { h.Dropped++ })
		return
	}
	select {
	case d.queue <- dl:
		d.s.stats.hook(func(h *HookStats) { h.Queued++ })
	default:
		d.s.stats.hook(func(h *HookStats) { h.Dropped++ })
		d.s.log.Warn("hook queue full; delivery dropped", "entity", dl.payload.Entity, "id", dl.payload.ID, "hook", dl.payload.HookID)
	}
}

func (d *hookDispatcher) close() {
	d.cancel()
	d.wg.Wait()
}

func (d *hookDispatcher) work(rng *rand.Rand) {
	defer d.wg.Done()
	for {
		select {
		case <-d.ctx.Done():
			return
		case dl := <-d.queue:
			d.deliver(dl, rng)
		}
	}
}

// deliver POSTs with up to HookAttempts tries, backing off 100ms, 200ms,
// 400ms ... with jitter; a 2xx answer is success.
func (d *hookDispatcher) deliver(dl delivery, rng *rand.Rand) {
	body, contentType, err := dl.body()
	if err != nil {
		d.s.stats.hook(func(h *HookStats) { h.Failed++ })
		return
	}
	backoff := 100 * time.Millisecond
	var lastErr error
	for attempt := 1; attempt <= d.s.opts.HookAttempts; attempt++ {
		if attempt > 1 {
			wait := backoff + time.Duration(rng.Int64N(int64(backoff)/2+1))
			backoff *= 2
			if !sleepCtx(d.ctx, wait) {
				d.s.stats.hook(func(h *HookStats) { h.Dropped++ })
				return
			}
		}
		lastErr = d.post(dl.url, body, contentType)
		if lastErr == nil {
			d.s.stats.hook(func(h *HookStats) { h.Delivered++ })
			return
		}
	}
	d.s.stats.hook(func(h *HookStats) { h.Failed++ })
	d.s.log.Warn("hook delivery failed", "entity", dl.payload.Entity, "id", dl.payload.ID, "hook", dl.payload.HookID,
		"attempts", d.s.opts.HookAttempts, "err", lastErr)
}

// post sends one attempt to target, exactly as registered (query string
// included); contentType "" sends no body.
func (d *hookDispatcher) post(target string, body []byte, contentType string) error {
	var rd io.Reader = http.NoBody
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(d.ctx, http.MethodPost, target, rd)
	if err != nil {
		return fmt.Errorf("build hook request: %w", err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("User-Agent", "webcrmsim-hooks/1")
	if d.s.opts.HookSecret != "" {
		req.Header.Set(HookSecretHeader, d.s.opts.HookSecret)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return fmt.Errorf("post hook: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("post hook: status %d", resp.StatusCode)
	}
	return nil
}
