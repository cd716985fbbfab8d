// Package pricing is the dated model price table that LLM calls are costed
// from: USD per million tokens of each usage type (input, cached input,
// output, reasoning), per provider and model, each price in force from its
// date on. The table is a data file in the repository (prices.json),
// embedded in the binary; a price change is a new dated entry, so calls
// recorded before it keep the price they were costed at.
//
// It owns prices and cost arithmetic only: recording calls and keeping run
// totals is internal/runs.
package pricing

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/shopspring/decimal"
	"golang.org/x/text/unicode/norm"
)

//go:embed prices.json
var embedded []byte

// MaxPriceDecimals bounds the decimal places of a per-million price, so that
// the cost of any token count is exact in the database's numeric(20,10):
// a price with 4 decimals per million tokens is 10 decimals per token.
const MaxPriceDecimals = 4

var million = decimal.NewFromInt(1_000_000)

// Price is what one model costs from a date on, in USD per million tokens.
type Price struct {
	Provider, Model string
	From            time.Time // 00:00 UTC of the first day the price applies
	Input           decimal.Decimal
	CachedInput     decimal.Decimal
	Output          decimal.Decimal
	Reasoning       decimal.Decimal
}

// Version names the price for the record: its effective date.
func (p Price) Version() string { return p.From.Format(time.DateOnly) }

// Usage is a call's tokens by usage type. The types are disjoint: Input
// excludes CachedInput, Output excludes Reasoning. (OpenAI reports
// prompt_tokens including cached_tokens and completion_tokens including
// reasoning_tokens: subtract them. Anthropic's input_tokens already exclude
// cache reads.)
type Usage struct {
	Input, CachedInput, Output, Reasoning int64
}

// Total is the sum of all usage types.
func (u Usage) Total() int64 { return u.Input + u.CachedInput + u.Output + u.Reasoning }

// Cost is a call's cost by usage type, in USD, exact.
type Cost struct {
	Input, CachedInput, Output, Reasoning, Total decimal.Decimal
}

// Cost prices u. Every part is exact (no rounding): tokens × price / 10⁶.
func (p Price) Cost(u Usage) Cost {
	part := func(tokens int64, perMillion decimal.Decimal) decimal.Decimal {
		return decimal.NewFromInt(tokens).Mul(perMillion).DivRound(million, MaxPriceDecimals+6)
	}
	c := Cost{
		Input:       part(u.Input, p.Input),
		CachedInput: part(u.CachedInput, p.CachedInput),
		Output:      part(u.Output, p.Output),
		Reasoning:   part(u.Reasoning, p.Reasoning),
	}
	c.Total = c.Input.Add(c.CachedInput).Add(c.Output).Add(c.Reasoning)
	return c
}

// Table is the loaded price table. It is immutable and safe for concurrent use.
type Table struct {
	// prices by normalized "provider/model" (aliases included), oldest first.
	prices map[string][]Price
}

// Default returns the table embedded in the binary.
func Default() (*Table, error) {
	t, err := Parse(embedded)
	if err != nil {
		return nil, fmt.Errorf("embedded price table: %w", err)
	}
	return t, nil
}

type fileModel struct {
	Provider string      `json:"provider"`
	Model    string      `json:"model"`
	Aliases  []string    `json:"aliases"`
	Prices   []filePrice `json:"prices"`
}

// filePrice has pointers so that a missing amount is an error, not a zero
// price.
type filePrice struct {
	From        string           `json:"from"`
	Input       *decimal.Decimal `json:"input"`
	CachedInput *decimal.Decimal `json:"cached_input"`
	Output      *decimal.Decimal `json:"output"`
	Reasoning   *decimal.Decimal `json:"reasoning"`
}

// Parse reads a price table in the format of prices.json and checks it:
// every model has at least one price, dates are strictly increasing,
// amounts are non-negative with at most MaxPriceDecimals decimals, and no
// name (model or alias) is priced twice.
func Parse(data []byte) (*Table, error) {
	// The file may carry a top-level "comment" for people; nothing else
	// unknown, so a misspelt field fails loudly instead of pricing at zero.
	var f struct {
		Comment string      `json:"comment"`
		Models  []fileModel `json:"models"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("parse price table: %w", err)
	}
	if len(f.Models) == 0 {
		return nil, errors.New("price table lists no models")
	}
	t := &Table{prices: make(map[string][]Price)}
	var errs []error
	for i, m := range f.Models {
		if err := t.add(m); err != nil {
			errs = append(errs, fmt.Errorf("models[%d] (%s/%s): %w", i, m.Provider, m.Model, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Table) add(m fileModel) error {
	provider, model := normalize(m.Provider), normalize(m.Model)
	if provider == "" || model == "" {
		return errors.New("provider and model are required")
	}
	if len(m.Prices) == 0 {
		return errors.New("no prices")
	}
	prices := make([]Price, 0, len(m.Prices))
	for j, fp := range m.Prices {
		from, err := time.Parse(time.DateOnly, fp.From)
		if err != nil {
			return fmt.Errorf("prices[%d]: from %q is not a date (YYYY-MM-DD)", j, fp.From)
		}
		if j > 0 && !from.After(prices[j-1].From) {
			return fmt.Errorf("prices[%d]: from %s is not after %s", j, fp.From, prices[j-1].Version())
		}
		amounts := []struct {
			name string
			v    *decimal.Decimal
		}{{"input", fp.Input}, {"cached_input", fp.CachedInput}, {"output", fp.Output}, {"reasoning", fp.Reasoning}}
		for _, a := range amounts {
			switch {
			case a.v == nil:
				return fmt.Errorf("prices[%d]: %s is missing", j, a.name)
			case a.v.IsNegative():
				return fmt.Errorf("prices[%d]: %s is negative", j, a.name)
			case !a.v.Equal(a.v.Round(MaxPriceDecimals)):
				return fmt.Errorf("prices[%d]: %s %s has more than %d decimals", j, a.name, a.v, MaxPriceDecimals)
			}
		}
		prices = append(prices, Price{
			Provider: provider, Model: model, From: from,
			Input: *fp.Input, CachedInput: *fp.CachedInput, Output: *fp.Output, Reasoning: *fp.Reasoning,
		})
	}
	for _, name := range append([]string{model}, m.Aliases...) {
		if normalize(name) == "" {
			return errors.New("an alias is empty")
		}
		k := key(provider, normalize(name))
		if _, dup := t.prices[k]; dup {
			return fmt.Errorf("%s is priced twice", k)
		}
		t.prices[k] = prices
	}
	return nil
}

// Lookup returns the price of provider's model in force at time at: the
// newest price whose date is not after at. ok is false for a model the
// table does not know, or a time before its first price.
func (t *Table) Lookup(provider, model string, at time.Time) (p Price, ok bool) {
	prices := t.prices[key(normalize(provider), normalize(model))]
	at = at.UTC()
	i, _ := slices.BinarySearchFunc(prices, at, func(p Price, at time.Time) int {
		if p.From.After(at) {
			return 1
		}
		return -1
	})
	// i is the number of prices in force at or before at.
	if i == 0 {
		return Price{}, false
	}
	return prices[i-1], true
}

// Models lists the priced "provider/model" names, aliases included, sorted.
func (t *Table) Models() []string {
	out := make([]string, 0, len(t.prices))
	for k := range t.prices {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func key(provider, model string) string { return provider + "/" + model }

func normalize(s string) string { return Normalize(s) }

// Normalize is the one form of a provider or model name that prices are
// looked up, stored and grouped in: Unicode NFKC (full-width letters become
// ASCII), every dash (U+2010 hyphen, en and em dashes, minus sign...) a
// plain '-', invisible format characters (zero-width space, soft hyphen,
// BOM) removed, spaces trimmed, lower case. "GPT‐4o" (U+2010) is "gpt-4o",
// so a look-alike name cannot dodge its price.
func Normalize(s string) string {
	s = norm.NFKC.String(s)
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case unicode.Is(unicode.Pd, r) || r == '\u2212':
			b.WriteByte('-')
		case unicode.Is(unicode.Cf, r):
		default:
			b.WriteRune(r)
		}
	}
	return strings.ToLower(strings.TrimSpace(b.String()))
}
