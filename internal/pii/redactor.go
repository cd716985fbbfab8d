package pii

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/nyaruka/phonenumbers"
	"go.uber.org/fx"

	"github.com/jarvis-core/jarvis/internal/config"
)

// Config is where phone numbers written without a country code are
// recognised.
type Config struct {
	// PhoneRegions are ISO 3166 region codes (US, GB, FR, ...): a number
	// in a national format ("020 7946 0958", "01 23 45 67 89",
	// "4155552671") is redacted when libphonenumber finds it valid in one
	// of them. Each region adds its national formats, and so its false
	// positives (a 10-digit id that happens to be a valid number): name
	// the regions your users live in.
	PhoneRegions []string `env:"PII_PHONE_REGIONS" envDefault:"US" envSeparator:","`
}

// Validate checks the regions against libphonenumber's.
func (c Config) Validate() error {
	if len(c.PhoneRegions) == 0 {
		return config.Invalid("PII_PHONE_REGIONS", "name at least one region (e.g. US)")
	}
	for _, r := range c.PhoneRegions {
		if _, ok := phonenumbers.GetSupportedRegions()[strings.ToUpper(strings.TrimSpace(r))]; !ok {
			return config.Invalid("PII_PHONE_REGIONS", "each must be an ISO 3166 region code that libphonenumber knows (e.g. US, GB, FR)")
		}
	}
	return nil
}

// Module provides the *Redactor configured by PII_PHONE_REGIONS.
var Module = fx.Module("pii", config.Provide[Config](), fx.Provide(New))

// Redactor replaces personal data with placeholders; it differs from
// another only by the regions whose national phone formats it knows.
type Redactor struct {
	detectors []detector
}

// Default knows the US national phone formats (and every international one).
var Default = func() *Redactor {
	r, err := New(Config{PhoneRegions: []string{"US"}})
	if err != nil {
		panic(err)
	}
	return r
}()

// New returns a redactor for cfg.
func New(cfg Config) (*Redactor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("pii: %w", err)
	}
	regions := make([]string, 0, len(cfg.PhoneRegions))
	for _, r := range cfg.PhoneRegions {
		regions = append(regions, strings.ToUpper(strings.TrimSpace(r)))
	}
	slices.Sort(regions)
	regions = slices.Compact(regions)
	d := slices.Clone(detectors)
	d = append(d, detector{kind: Phone, re: nationalPhone, valid: validNational(regions), dotted: true, shrink: true})
	return &Redactor{detectors: d}, nil
}

// nationalPhone is a candidate phone number without a "+": digits in
// groups separated by a space, hyphen or dot, an area code perhaps in
// parentheses. libphonenumber decides; the pattern only finds candidates
// (shrink tries shorter ones when a neighbouring number was swallowed).
var nationalPhone = regexp.MustCompile(`(?:\([0-9]{1,5}\) ?)?[0-9]{1,5}(?:[ .\-]?[0-9]{1,5}){0,5}`)

// validNational accepts a candidate of 7 to 15 digits that libphonenumber
// parses as a valid number of one of regions, written in that region's
// national format.
func validNational(regions []string) func(string) bool {
	return func(m string) bool {
		n := len(digits(m))
		if n < 7 || n > 15 || strings.Count(m, "(") != strings.Count(m, ")") {
			return false
		}
		ds := digits(m)
		for _, r := range regions {
			// Outside North America a national number is written with its
			// trunk prefix ("020 7946 0958", "01 23 45 67 89"); without it
			// any 10-digit number may be a valid British or French one
			// (1733385600, a Unix time, is +44 1733 385600).
			if prefix := phonenumbers.GetNddPrefixForRegion(r, true); prefix != "" &&
				phonenumbers.GetCountryCodeForRegion(r) != 1 && !strings.HasPrefix(ds, prefix) {
				continue
			}
			num, err := phonenumbers.Parse(m, r)
			if err == nil && phonenumbers.IsValidNumber(num) {
				return true
			}
		}
		return false
	}
}
