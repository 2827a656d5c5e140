package numfmt

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestPercent(t *testing.T) {
	for _, tt := range []struct {
		in   float64
		want string
	}{
		{0, "0%"},
		{1e-10, "0%"},
		{0.05, "5%"},
		{0.015, "1.5%"},
		{0.0025, "0.25%"},
		{0.1, "10%"},
		{1, "100%"},
	} {
		assert.Equal(t, tt.want, Percent(tt.in), "Percent(%g)", tt.in)
	}
}

func TestPValue(t *testing.T) {
	for _, tt := range []struct {
		in   float64
		want string
	}{
		{0.00002, "p < 0.0001"},
		{0.0001, "p = 0.0001"},
		{0.0023456, "p = 0.0023"},
		{0.5, "p = 0.5"},
	} {
		assert.Equal(t, tt.want, PValue(tt.in), "PValue(%g)", tt.in)
	}
}

func TestMillis(t *testing.T) {
	for _, tt := range []struct {
		in   float64
		want string
	}{
		{42000, "42 ms"},
		{51300, "51.3 ms"},
		{812, "0.812 ms"},
		{1234000, "1234 ms"},
		{100000, "100 ms"},
		{0, "0 ms"},
	} {
		assert.Equal(t, tt.want, Millis(tt.in), "Millis(%g)", tt.in)
	}
}
