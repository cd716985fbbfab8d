package pricing

import (
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestDefaultTableLoadsAndCoversBothProviders(t *testing.T) {
	tbl, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, m := range []struct{ provider, model string }{
		{"openai", "gpt-5"}, {"openai", "gpt-5-mini"}, {"openai", "gpt-4.1"}, {"openai", "gpt-4o-mini"},
		{"openai", "o3"}, {"openai", "o4-mini"},
		{"anthropic", "claude-opus-4-5"}, {"anthropic", "claude-sonnet-4-5-20250929"},
		{"anthropic", "claude-haiku-4-5"}, {"anthropic", "claude-3-5-haiku-latest"},
	} {
		if _, ok := tbl.Lookup(m.provider, m.model, now); !ok {
			t.Errorf("%s/%s has no current price", m.provider, m.model)
		}
	}
}

func TestLookupAppliesAPriceFromItsDateOn(t *testing.T) {
	tbl, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	// o3 was cut from 10/40 to 2/8 per million on 2025-06-10.
	cases := []struct {
		name    string
		at      time.Time
		ok      bool
		input   string
		version string
	}{
		{"before the model existed", day("2025-04-15"), false, "", ""},
		{"first day of the first price", day("2025-04-16"), true, "10", "2025-04-16"},
		{"last instant of the old price", day("2025-06-10").Add(-time.Nanosecond), true, "10", "2025-04-16"},
		{"first instant of the new price", day("2025-06-10"), true, "2", "2025-06-10"},
		{"long after", day("2026-11-25"), true, "2", "2025-06-10"},
		{"a time in another zone is compared in UTC", day("2025-06-10").In(time.FixedZone("X", -5*3600)), true, "2", "2025-06-10"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, ok := tbl.Lookup("openai", "o3-2025-04-16", c.at)
			if ok != c.ok {
				t.Fatalf("ok = %v, want %v", ok, c.ok)
			}
			if !ok {
				return
			}
			if !p.Input.Equal(d(c.input)) || p.Version() != c.version {
				t.Fatalf("price = %s from %s, want %s from %s", p.Input, p.Version(), c.input, c.version)
			}
		})
	}
}

func TestLookupNormalizesNamesAndRefusesUnknownModels(t *testing.T) {
	tbl, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, ok := tbl.Lookup(" OpenAI ", "GPT-4o-Mini", now); !ok {
		t.Fatal("case and spaces should not matter")
	}
	for _, m := range [][2]string{{"openai", "gpt-4o-mini-2099-01-01"}, {"anthropic", "gpt-4o"}, {"openai", "gpt"}, {"", ""}} {
		if p, ok := tbl.Lookup(m[0], m[1], now); ok {
			t.Errorf("%s/%s priced at %+v; an unknown model must have no price", m[0], m[1], p)
		}
	}
	// A prefix of a known model is not that model.
	if _, ok := tbl.Lookup("openai", "gpt-4o-min", now); ok {
		t.Error("gpt-4o-min must not match gpt-4o-mini")
	}
}

func TestCostIsExactPerUsageType(t *testing.T) {
	p := Price{Input: d("2.50"), CachedInput: d("1.25"), Output: d("10"), Reasoning: d("0.0001")}
	c := p.Cost(Usage{Input: 1, CachedInput: 3, Output: 1_000_000, Reasoning: 1})
	want := Cost{
		Input:       d("0.0000025"),
		CachedInput: d("0.00000375"),
		Output:      d("10"),
		Reasoning:   d("0.0000000001"), // the smallest amount numeric(20,10) holds
		Total:       d("10.0000062501"),
	}
	for name, pair := range map[string][2]decimal.Decimal{
		"input": {c.Input, want.Input}, "cached_input": {c.CachedInput, want.CachedInput},
		"output": {c.Output, want.Output}, "reasoning": {c.Reasoning, want.Reasoning}, "total": {c.Total, want.Total},
	} {
		if !pair[0].Equal(pair[1]) {
			t.Errorf("%s cost = %s, want %s", name, pair[0], pair[1])
		}
	}
	// Many small calls add up to exactly the price of their sum.
	sum := decimal.Zero
	for range 1000 {
		sum = sum.Add(p.Cost(Usage{Input: 7}).Total)
	}
	if !sum.Equal(p.Cost(Usage{Input: 7000}).Total) {
		t.Fatalf("1000 × 7 tokens = %s, 7000 tokens = %s", sum, p.Cost(Usage{Input: 7000}).Total)
	}
}

func TestEveryEmbeddedCostFitsTheDatabaseExactly(t *testing.T) {
	tbl, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range tbl.Models() {
		provider, model, _ := strings.Cut(k, "/")
		p, ok := tbl.Lookup(provider, model, time.Now())
		if !ok {
			continue // a model whose only price is in the future
		}
		c := p.Cost(Usage{Input: 1, CachedInput: 1, Output: 1, Reasoning: 1})
		for _, v := range []decimal.Decimal{c.Input, c.CachedInput, c.Output, c.Reasoning} {
			if !v.Equal(v.Round(10)) {
				t.Errorf("%s: one token costs %s, more decimals than numeric(20,10) keeps", k, v)
			}
		}
	}
}

func TestParseRefusesBadTables(t *testing.T) {
	price := `{"from": "2025-01-01", "input": "1", "cached_input": "0.5", "output": "2", "reasoning": "2"}`
	cases := map[string]struct{ json, want string }{
		"no models":        {`{"models": []}`, "lists no models"},
		"unknown field":    {`{"models": [], "modles": []}`, "unknown field"},
		"missing amount":   {`{"models": [{"provider": "p", "model": "m", "prices": [{"from": "2025-01-01", "input": "1", "cached_input": "1", "output": "1"}]}]}`, "reasoning is missing"},
		"negative":         {`{"models": [{"provider": "p", "model": "m", "prices": [{"from": "2025-01-01", "input": "-1", "cached_input": "1", "output": "1", "reasoning": "1"}]}]}`, "input is negative"},
		"too precise":      {`{"models": [{"provider": "p", "model": "m", "prices": [{"from": "2025-01-01", "input": "0.00001", "cached_input": "1", "output": "1", "reasoning": "1"}]}]}`, "more than 4 decimals"},
		"bad date":         {`{"models": [{"provider": "p", "model": "m", "prices": [{"from": "01/02/2025", "input": "1", "cached_input": "1", "output": "1", "reasoning": "1"}]}]}`, "not a date"},
		"dates not rising": {`{"models": [{"provider": "p", "model": "m", "prices": [` + price + `,` + price + `]}]}`, "is not after"},
		"no prices":        {`{"models": [{"provider": "p", "model": "m", "prices": []}]}`, "no prices"},
		"no name":          {`{"models": [{"provider": "p", "model": " ", "prices": [` + price + `]}]}`, "required"},
		"priced twice":     {`{"models": [{"provider": "p", "model": "m", "prices": [` + price + `]}, {"provider": "p", "model": "n", "aliases": ["M"], "prices": [` + price + `]}]}`, "p/m is priced twice"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(c.json))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one containing %q", err, c.want)
			}
		})
	}
	if _, err := Parse([]byte(`{"models": [{"provider": "p", "model": "m", "prices": [` + price + `]}]}`)); err != nil {
		t.Fatalf("a good table: %v", err)
	}
}
