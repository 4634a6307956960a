package erpsim

import (
	"encoding/json"
	"fmt"

	"github.com/cockroachdb/apd/v3"
)

// Limits of the decimals the server stores (money, prices, percentages, quantities).
const (
	maxIntegerDigits  = 15
	maxFractionDigits = 10
)

// decimalCtx is the arithmetic context for totals: far more precision than any stored value.
var decimalCtx = apd.BaseContext.WithPrecision(60)

// parseDecimal parses a JSON number exactly and checks it is within the stored limits.
func parseDecimal(n json.Number) (*apd.Decimal, error) {
	d, _, err := apd.NewFromString(string(n))
	if err != nil || d.Form != apd.Finite {
		return nil, fmt.Errorf("must be a decimal number")
	}
	d.Reduce(d)
	frac := int64(0)
	if d.Exponent < 0 {
		frac = int64(-d.Exponent)
	}
	intDigits := d.NumDigits() + int64(d.Exponent)
	if frac > maxFractionDigits || intDigits > maxIntegerDigits {
		return nil, fmt.Errorf("must have at most %d digits before the decimal point and %d after", maxIntegerDigits, maxFractionDigits)
	}
	if d.IsZero() {
		d.Negative = false
	}
	return d, nil
}

// decimalText is the canonical text of d: no exponent, no trailing zeros after the point.
func decimalText(d *apd.Decimal) string {
	var r apd.Decimal
	r.Reduce(d)
	if r.IsZero() {
		return "0"
	}
	return r.Text('f')
}

// decimalOf reads a stored decimal (json.Number) or returns zero when v is null.
func decimalOf(v any) *apd.Decimal {
	n, ok := v.(json.Number)
	if !ok {
		return apd.New(0, 0)
	}
	d, _, err := apd.NewFromString(string(n))
	if err != nil {
		return apd.New(0, 0)
	}
	return d
}

// decimalType is the decimal the server computes with.
type decimalType = apd.Decimal

// roundTo2 rounds d half up to two decimals.
func roundTo2(d *apd.Decimal) *apd.Decimal {
	out := new(apd.Decimal)
	rc := decimalCtx
	rc.Rounding = apd.RoundHalfUp
	_, _ = rc.Quantize(out, d, -2)
	return out
}
