package webcrmsim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// persistFormat names the file layout, written first in the file.
const persistFormat = "webcrmsim/1"

// persistFile is the JSON layout of PersistPath:
//
//	{"Format":"webcrmsim/1","LastStamp":"...","NextHookId":n,
//	 "Hooks":[{"Entity":"Organisations","Hook":{...HookDto...}}],
//	 "Entities":{"Organisations":{"NextId":n,"Records":[{...},...]}, ...}}
type persistFile struct {
	Format     string                   `json:"Format"`
	LastStamp  string                   `json:"LastStamp"`
	NextHookID int64                    `json:"NextHookId"`
	Hooks      []persistHook            `json:"Hooks"`
	Entities   map[string]persistEntity `json:"Entities"`
}

type persistHook struct {
	Entity string `json:"Entity"`
	Hook   hook   `json:"Hook"`
}

type persistEntity struct {
	NextID  int               `json:"NextId"`
	Records []json.RawMessage `json:"Records"`
}

// persister saves the store after writes, debounced, from one goroutine.
type persister struct {
	s       *Server
	path    string
	kick    chan struct{}
	done    chan struct{}
	stopped chan struct{}
	mu      sync.Mutex // serialises saves
}

func newPersister(s *Server) *persister {
	p := &persister{
		s:       s,
		path:    s.opts.PersistPath,
		kick:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	go p.loop()
	return p
}

// notify schedules a save; it never blocks.
func (p *persister) notify() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

func (p *persister) loop() {
	defer close(p.stopped)
	for {
		select {
		case <-p.done:
			return
		case <-p.kick:
		}
		t := time.NewTimer(p.s.opts.PersistDebounce)
		select {
		case <-p.done:
			t.Stop()
			return
		case <-t.C:
		}
		if err := p.save(); err != nil {
			p.s.log.Error("persist failed", "path", p.path, "err", err)
		}
	}
}

// close stops the loop and writes the final state.
func (p *persister) close() error {
	close(p.done)
	<-p.stopped
	return p.save()
}

// save writes a snapshot to a temporary file in the same directory and
// renames it over the target.
func (p *persister) save() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.s
	// Snapshot references under the read lock; records are immutable.
	type snap struct {
		ent    *entity
		nextID int
		recs   []record
	}
	s.mu.RLock()
	snaps := make([]snap, 0, len(entities.list))
	for _, e := range entities.list {
		t := s.tables[e.Name]
		snaps = append(snaps, snap{ent: e, nextID: t.nextID, recs: t.records(0, len(t.ids))})
	}
	var hooks []persistHook
	for _, e := range entities.list {
		for _, h := range s.hooksOfLocked(e) {
			hooks = append(hooks, persistHook{Entity: e.Name, Hook: *h})
		}
	}
	nextHook := s.nextHook
	lastStamp := FormatTime(s.lastStamp)
	s.mu.RUnlock()

	dir := filepath.Dir(p.path)
	f, err := os.CreateTemp(dir, filepath.Base(p.path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("persist: create temp file in %s: %w", dir, err)
	}
	tmp := f.Name()
	defer func() {
		if tmp != "" {
			_ = os.Remove(tmp)
		}
	}()
	w := bufio.NewWriterSize(f, 1<<20)
	head, err := json.Marshal(struct {
		Format     string        `json:"Format"`
		LastStamp  string        `json:"LastStamp"`
		NextHookID int64         `json:"NextHookId"`
		Hooks      []persistHook `json:"Hooks"`
	}{persistFormat, lastStamp, nextHook, hooks})
	if err != nil {
		_ = f.Close()
		return fmt.Errorf("persist: encode header: %w", err)
	}
	// Splice the Entities member into the header object, streaming records.
	_, _ = w.Write(head[:len(head)-1])
	_, _ = w.WriteString(`,"Entities":{`)
	buf := make([]byte, 0, 4096)
	for i, sn := range snaps {
		if i > 0 {
			_ = w.WriteByte(',')
		}
		buf = appendString(buf[:0], sn.ent.Name)
		buf = append(buf, `:{"NextId":`...)
		buf = strconv.AppendInt(buf, int64(sn.nextID), 10)
		buf = append(buf, `,"Records":[`...)
		_, _ = w.Write(buf)
		for j, rec := range sn.recs {
			buf = buf[:0]
			if j > 0 {
				buf = append(buf, ",\n"...)
			}
			buf = appendRecord(buf, sn.ent.stored, rec, nil)
			_, _ = w.Write(buf)
		}
		_, _ = w.WriteString("]}")
	}
	_, _ = w.WriteString("}}\n")
	if err := w.Flush(); err != nil {
		_ = f.Close()
		return fmt.Errorf("persist: write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return fmt.Errorf("persist: sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("persist: close %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, p.path); err != nil {
		return fmt.Errorf("persist: rename to %s: %w", p.path, err)
	}
	tmp = ""
	return nil
}

// load reads PersistPath into the (empty) store. It returns false when the
// file does not exist.
func (s *Server) load(path string) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("open: %w", err)
	}
	defer f.Close()
	var pf persistFile
	if err := json.NewDecoder(bufio.NewReaderSize(f, 1<<20)).Decode(&pf); err != nil {
		return false, fmt.Errorf("decode: %w", err)
	}
	if pf.Format != persistFormat {
		return false, fmt.Errorf("format %q, want %q", pf.Format, persistFormat)
	}
	for name, pe := range pf.Entities {
		e, ok := entities.find(name)
		if !ok {
			return false, fmt.Errorf("unknown entity %q", name)
		}
		t := s.tables[e.Name]
		for i, raw := range pe.Records {
			rec, id, err := decodeStored(e, raw)
			if err != nil {
				return false, fmt.Errorf("%s record %d: %w", name, i, err)
			}
			t.insert(id, rec)
		}
		if pe.NextID > t.nextID {
			t.nextID = pe.NextID
		}
	}
	for _, ph := range pf.Hooks {
		e, ok := entities.find(ph.Entity)
		if !ok {
			return false, fmt.Errorf("hook %d: unknown entity %q", ph.Hook.ID, ph.Entity)
		}
		h := ph.Hook
		h.Entity = e.Name
		if h.Filter == nil {
			h.Filter = []string{}
		}
		s.hooks[h.ID] = &h
		if h.ID >= s.nextHook {
			s.nextHook = h.ID + 1
		}
	}
	if pf.NextHookID > s.nextHook {
		s.nextHook = pf.NextHookID
	}
	if pf.LastStamp != "" {
		t, err := ParseTime(pf.LastStamp)
		if err != nil {
			return false, fmt.Errorf("LastStamp: %w", err)
		}
		s.lastStamp = t
	}
	s.version++
	return true, nil
}

// decodeStored reads one persisted record, keeping server-maintained
// properties.
func decodeStored(e *entity, raw json.RawMessage) (record, int, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil && err != io.EOF {
		return nil, 0, err
	}
	rec := make(record, len(obj))
	for k, v := range obj {
		p, ok := e.byName[k]
		if !ok {
			return nil, 0, fmt.Errorf("unknown property %q", k)
		}
		nv, err := p.normalize(v)
		if err != nil {
			return nil, 0, err
		}
		if nv != nil {
			rec[p.Name] = nv
		}
	}
	id := intValue(rec, e.IDField)
	if id <= 0 {
		return nil, 0, fmt.Errorf("missing %s", e.IDField)
	}
	return rec, id, nil
}
