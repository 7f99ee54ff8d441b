package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

func timeDuration(ns int64) time.Duration { return time.Duration(ns) }

func TestWriteSVG(t *testing.T) {
	c := chart{
		Title:    `a <title> & "quotes"`,
		Subtitle: "sub",
		XLabel:   "round",
		XMax:     10,
		Series: []series{
			{Name: "push", Color: "#1f77b4", Y: []float64{0, 0.5, 1}},
			{Name: "model <dashed>", Color: "#777", Dash: "4 2", Y: []float64{0, 0.1, 0.2, 2, math.NaN()}},
			{Name: "empty", Color: "#000"},
		},
		Markers: []marker{
			{X: 5, Label: "bound", Color: "#f00"},
			{X: 50, Label: "beyond the axis", Color: "#f00"},
		},
	}
	var b bytes.Buffer
	if err := writeSVG(&b, c); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if n := wellFormed(t, strings.NewReader(out)); n != 2 {
		t.Errorf("%d paths, want 2 (the empty series draws none)", n)
	}
	for _, want := range []string{
		"a &lt;title&gt; &amp; &#34;quotes&#34;", // escaped title
		"model &lt;dashed&gt;",                   // escaped legend
		`stroke-dasharray="4 2"`,                 // dashed overlay
		">bound</text>",                          // marker label
		">10</text>",                             // last x tick
		">100%</text>",                           // y tick
		">empty</text>",                          // legend keeps every series
	} {
		if !strings.Contains(out, want) {
			t.Errorf("svg lacks %q", want)
		}
	}
	if strings.Contains(out, "beyond the axis") {
		t.Error("a marker past XMax was drawn")
	}
	if strings.Contains(out, "NaN") {
		t.Error("NaN leaked into the svg")
	}
}

func TestPathData(t *testing.T) {
	xs := func(x float64) float64 { return x * 10 }
	ys := func(y float64) float64 { return (1 - y) * 100 }
	tests := []struct {
		name string
		y    []float64
		xmax float64
		want string
	}{
		{"carried flat to the edge", []float64{0, 1}, 3, "M0.0 100.0 L10.0 0.0 L30.0 0.0"},
		{"clipped to [0,1]", []float64{-1, 2}, 1, "M0.0 100.0 L10.0 0.0"},
		{"cut at xmax", []float64{0, 0.5, 1, 1}, 1, "M0.0 100.0 L10.0 50.0"},
		{"skips NaN", []float64{math.NaN(), 0.5}, 1, "M10.0 50.0"},
		{"empty", nil, 1, ""},
	}
	for _, tt := range tests {
		if got := pathData(tt.y, tt.xmax, xs, ys); got != tt.want {
			t.Errorf("%s: pathData = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestNiceStep(t *testing.T) {
	tests := []struct {
		span float64
		want float64
	}{
		{5, 1}, {12, 1}, {18, 2}, {40, 5}, {100, 10}, {900, 100}, {3600, 500},
	}
	for _, tt := range tests {
		if got := niceStep(tt.span, 12); got != tt.want {
			t.Errorf("niceStep(%v) = %v, want %v", tt.span, got, tt.want)
		}
	}
}
