package main

import (
	"io"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/tandemsync/tandem/workflows"
)

// progressView draws a backfill's progress: a bar with done/total, rate and
// ETA when the total is known, a spinner with the count while it is not.
// It is redrawn only when update is called (no background goroutine).
type progressView struct {
	w       io.Writer
	now     func() time.Time
	bar     *progressbar.ProgressBar
	spinner bool
	max     int64
}

func newProgressView(w io.Writer, now func() time.Time) *progressView {
	return &progressView{w: w, now: now}
}

func (v *progressView) options(desc string) []progressbar.Option {
	return []progressbar.Option{
		progressbar.OptionSetWriter(v.w),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(false),
		progressbar.OptionSetElapsedTime(false),
		progressbar.OptionSetSpinnerChangeInterval(0),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionShowDescriptionAtLineEnd(),
		progressbar.OptionSetDescription(desc),
	}
}

// reset replaces the bar by one counting to limit (-1: a spinner).
func (v *progressView) reset(limit int64, desc string) {
	v.close()
	v.spinner = limit < 0
	v.max = limit
	v.bar = progressbar.NewOptions64(limit, v.options(desc)...)
}

// waiting shows a spinner with msg until progress arrives.
func (v *progressView) waiting(msg string) {
	if v.bar == nil || !v.spinner {
		v.reset(-1, msg)
	}
	v.bar.Describe(msg)
	_ = v.bar.Add(0)
}

// update draws p.
func (v *progressView) update(p workflows.BackfillProgress) {
	desc := describeProgress(p, v.now())
	done := int64(p.Done)
	if p.Total < 0 {
		if v.bar == nil || !v.spinner {
			v.reset(-1, desc)
		}
		v.bar.Describe(desc)
		_ = v.bar.Set64(done)
		return
	}
	// Records created while the backfill runs can make done pass total.
	limit := max(int64(p.Total), done, 1)
	switch {
	case v.bar == nil || v.spinner || (v.bar.IsFinished() && limit != v.max):
		v.reset(limit, desc)
	case limit != v.max:
		v.max = limit
		v.bar.ChangeMax64(limit)
	}
	v.bar.Describe(desc)
	_ = v.bar.Set64(done)
}

// close clears the bar's line.
func (v *progressView) close() {
	if v.bar == nil {
		return
	}
	_ = v.bar.Clear()
	_ = v.bar.Exit()
	v.bar = nil
}
