package webcrm

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
)

// leveledLogger adapts slog to retryablehttp.LeveledLogger. Everything retryablehttp
// says is logged at debug level (the client reports outcomes itself); values that could
// carry headers are dropped and every string is passed through the token redactor.
type leveledLogger struct {
	log    *slog.Logger
	redact func(string) string
}

func (l *leveledLogger) Error(msg string, kv ...any) { l.emit(msg, kv) }
func (l *leveledLogger) Info(msg string, kv ...any)  { l.emit(msg, kv) }
func (l *leveledLogger) Debug(msg string, kv ...any) { l.emit(msg, kv) }
func (l *leveledLogger) Warn(msg string, kv ...any)  { l.emit(msg, kv) }

func (l *leveledLogger) emit(msg string, kv []any) {
	ctx := context.Background()
	if !l.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := make([]slog.Attr, 0, len(kv)/2+1)
	attrs = append(attrs, slog.String("component", "retryablehttp"))
	for i := 0; i+1 < len(kv); i += 2 {
		key := fmt.Sprint(kv[i])
		var val string
		switch v := kv[i+1].(type) {
		case http.Header, *http.Request, *http.Response:
			continue // never log headers
		case *url.URL:
			val = v.Redacted()
		case error:
			val = v.Error()
		default:
			val = fmt.Sprint(v)
		}
		attrs = append(attrs, slog.String(key, l.redact(val)))
	}
	l.log.LogAttrs(ctx, slog.LevelDebug, "webcrm: "+l.redact(msg), attrs...)
}
