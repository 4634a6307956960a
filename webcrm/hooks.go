package webcrm

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
)

// Hook is a webCRM webhook subscription (the <Entity>HookDto shape). Filter values are
// entity specific ("All", "Owner", ...); an empty Filter is sent as ["All"].
type Hook struct {
	ID        int64    `json:"Id"`
	EventType string   `json:"EventType,omitempty"` // Create, Update or Delete
	TargetURL string   `json:"TargetUrl"`
	IsEnabled bool     `json:"IsEnabled"`
	Filter    []string `json:"Filter"`
}

func hooksPath(e Entity) string { return "/" + string(e) + "/Hooks" }

func (h Hook) wire() Hook {
	if len(h.Filter) == 0 {
		h.Filter = []string{"All"}
	}
	return h
}

// ListHooks returns every hook of e (GET /<Entity>/Hooks, all pages).
func (c *Client) ListHooks(ctx context.Context, e Entity) ([]Hook, error) {
	if err := checkEntity("ListHooks", e); err != nil {
		return nil, err
	}
	var out []Hook
	for page := 1; page <= maxPage; page++ {
		k := call{op: "ListHooks", entity: e, id: "page " + strconv.Itoa(page), method: http.MethodGet, path: hooksPath(e), query: pageQuery(page, MaxPageSize)}
		resp, err := c.do(ctx, k)
		if err != nil {
			return nil, err
		}
		var hooks []Hook
		if err := c.decodeJSON(k, resp, &hooks); err != nil {
			return nil, err
		}
		out = append(out, hooks...)
		if len(hooks) < MaxPageSize {
			break
		}
	}
	if out == nil {
		out = []Hook{}
	}
	return out, nil
}

// GetHook returns one hook (GET /<Entity>/Hooks/{id}).
func (c *Client) GetHook(ctx context.Context, e Entity, id int64) (Hook, error) {
	if err := checkEntity("GetHook", e); err != nil {
		return Hook{}, err
	}
	k := call{op: "GetHook", entity: e, id: strconv.FormatInt(id, 10), method: http.MethodGet, path: hooksPath(e) + "/" + strconv.FormatInt(id, 10)}
	resp, err := c.do(ctx, k)
	if err != nil {
		return Hook{}, err
	}
	var h Hook
	if err := c.decodeJSON(k, resp, &h); err != nil {
		return Hook{}, err
	}
	return h, nil
}

// CreateHook registers a hook (POST /<Entity>/Hooks) and returns its id. h.ID is ignored.
func (c *Client) CreateHook(ctx context.Context, e Entity, h Hook) (int64, error) {
	if err := checkEntity("CreateHook", e); err != nil {
		return 0, err
	}
	if h.TargetURL == "" {
		return 0, fmt.Errorf("webcrm: CreateHook %s: %w: TargetURL is empty", e, ErrInvalidArgument)
	}
	h.ID = 0
	k := call{op: "CreateHook", entity: e, method: http.MethodPost, path: hooksPath(e), body: h.wire()}
	resp, err := c.do(ctx, k)
	if err != nil {
		return 0, err
	}
	var id int64
	if err := c.decodeJSON(k, resp, &id); err != nil {
		return 0, err
	}
	if id <= 0 {
		return 0, &APIError{Op: k.op, Entity: e, Status: resp.status, Malformed: true, Message: "answer is not a positive hook id"}
	}
	return id, nil
}

// UpdateHook replaces hook h.ID (PUT /<Entity>/Hooks/{id}).
func (c *Client) UpdateHook(ctx context.Context, e Entity, h Hook) error {
	if err := checkEntity("UpdateHook", e); err != nil {
		return err
	}
	id := strconv.FormatInt(h.ID, 10)
	_, err := c.do(ctx, call{op: "UpdateHook", entity: e, id: id, method: http.MethodPut, path: hooksPath(e) + "/" + id, body: h.wire()})
	return err
}

// DeleteHook removes a hook (DELETE /<Entity>/Hooks/{id}).
func (c *Client) DeleteHook(ctx context.Context, e Entity, id int64) error {
	if err := checkEntity("DeleteHook", e); err != nil {
		return err
	}
	sid := strconv.FormatInt(id, 10)
	_, err := c.do(ctx, call{op: "DeleteHook", entity: e, id: sid, method: http.MethodDelete, path: hooksPath(e) + "/" + sid})
	return err
}
