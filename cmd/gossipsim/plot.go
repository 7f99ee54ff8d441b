package main

import (
	"bufio"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strings"
)

// A hand-written SVG line chart: axes, gridlines, a legend, solid curves
// for simulations, dashed ones for closed forms, and vertical markers for
// round-count bounds. No dependency earns its place for this.

// series is one curve: Y[i] is the value at x = i.
type series struct {
	Name  string
	Color string
	Dash  string // SVG stroke-dasharray; "" for solid
	Width float64
	Y     []float64
}

// marker is a labelled vertical line at X.
type marker struct {
	X     float64
	Label string
	Color string
}

// chart is everything drawn; Y is a fraction in [0, 1] shown as percent.
type chart struct {
	Title    string
	Subtitle string
	XLabel   string
	XMax     float64
	Series   []series
	Markers  []marker
}

const (
	svgW, svgH              = 1240, 600
	padL, padR, padT, padB  = 70, 330, 70, 60 // the legend sits in padR
	plotW, plotH            = svgW - padL - padR, svgH - padT - padB
	legendRow, legendSample = 18, 34
)

// writeSVG renders c. Values outside [0, 1] or beyond XMax are clipped.
func writeSVG(w io.Writer, c chart) error {
	b := bufio.NewWriter(w)
	xmax := c.XMax
	if !(xmax > 0) {
		xmax = 1
	}
	xs := func(x float64) float64 { return padL + x/xmax*plotW }
	ys := func(y float64) float64 { return padT + (1-y)*plotH }

	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", svgW, svgH, svgW, svgH)
	fmt.Fprintf(b, `<rect width="%d" height="%d" fill="white"/>`+"\n", svgW, svgH)
	fmt.Fprintf(b, `<text x="%d" y="28" font-size="16" font-weight="bold">%s</text>`+"\n", padL, esc(c.Title))
	fmt.Fprintf(b, `<text x="%d" y="48" fill="#444">%s</text>`+"\n", padL, esc(c.Subtitle))

	// Gridlines and tick labels.
	b.WriteString(`<g stroke="#ddd" stroke-width="1">` + "\n")
	for _, y := range []float64{0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1} {
		fmt.Fprintf(b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f"/>`+"\n", padL, ys(y), padL+plotW, ys(y))
	}
	step := niceStep(xmax, 12)
	for x := 0.0; x <= xmax+1e-9; x += step {
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d"/>`+"\n", xs(x), padT, xs(x), padT+plotH)
	}
	b.WriteString("</g>\n")
	b.WriteString(`<g fill="#333">` + "\n")
	for _, y := range []float64{0, 0.2, 0.4, 0.6, 0.8, 1} {
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end">%s%%</text>`+"\n", padL-6, ys(y)+4, trimFloat(y*100))
	}
	for x := 0.0; x <= xmax+1e-9; x += step {
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", xs(x), padT+plotH+18, trimFloat(x))
	}
	b.WriteString("</g>\n")

	// Axes and their labels.
	fmt.Fprintf(b, `<g stroke="#000" stroke-width="1.5"><line x1="%d" y1="%d" x2="%d" y2="%d"/><line x1="%d" y1="%d" x2="%d" y2="%d"/></g>`+"\n",
		padL, padT+plotH, padL+plotW, padT+plotH, padL, padT, padL, padT+plotH)
	fmt.Fprintf(b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", padL+plotW/2, svgH-18, esc(c.XLabel))
	fmt.Fprintf(b, `<text transform="translate(18 %d) rotate(-90)" text-anchor="middle">live nodes informed</text>`+"\n", padT+plotH/2)

	// Markers, then curves, clipped to the plot area.
	fmt.Fprintf(b, `<clipPath id="plot"><rect x="%d" y="%d" width="%d" height="%d"/></clipPath>`+"\n", padL, padT-2, plotW+2, plotH+4)
	for _, m := range c.Markers {
		if m.X < 0 || m.X > xmax || math.IsNaN(m.X) {
			continue
		}
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="1.2" stroke-dasharray="2 3"/>`+"\n",
			xs(m.X), padT, xs(m.X), padT+plotH, esc(m.Color))
		// Rotated along the line, rising from the x axis: by the time a
		// bound is reached the curves are high, so the bottom is free.
		fmt.Fprintf(b, `<text transform="translate(%.1f %d) rotate(-90)" fill="%s" font-size="11">%s</text>`+"\n",
			xs(m.X)-4, padT+plotH-6, esc(m.Color), esc(m.Label))
	}
	b.WriteString(`<g clip-path="url(#plot)" fill="none" stroke-linejoin="round">` + "\n")
	for _, s := range c.Series {
		d := pathData(s.Y, xmax, xs, ys)
		if d == "" {
			continue
		}
		fmt.Fprintf(b, `<path d="%s" stroke="%s" stroke-width="%.1f"%s><title>%s</title></path>`+"\n",
			d, esc(s.Color), width(s), dashAttr(s.Dash), esc(s.Name))
	}
	b.WriteString("</g>\n")

	// Legend, right of the plot.
	lx, ly := float64(padL+plotW+16), float64(padT)
	fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%d" height="%d" fill="white" stroke="#999"/>`+"\n",
		lx, ly, padR-26, len(c.Series)*legendRow+8)
	for i, s := range c.Series {
		y := ly + 4 + float64(i)*legendRow + legendRow/2
		fmt.Fprintf(b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="%.1f"%s/>`+"\n",
			lx+8, y, lx+8+legendSample, y, esc(s.Color), width(s), dashAttr(s.Dash))
		fmt.Fprintf(b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", lx+16+legendSample, y+4, esc(s.Name))
	}
	b.WriteString("</svg>\n")
	return b.Flush()
}

// pathData draws a polyline through (i, Y[i]); a curve shorter than the
// axis is carried flat to the right edge, as its process has stopped.
func pathData(y []float64, xmax float64, xs, ys func(float64) float64) string {
	var sb strings.Builder
	n, last := 0, 0.0
	for i, v := range y {
		if float64(i) > xmax {
			break
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		last = min(max(v, 0), 1)
		cmd := "L"
		if n == 0 {
			cmd = "M"
		}
		fmt.Fprintf(&sb, "%s%.1f %.1f ", cmd, xs(float64(i)), ys(last))
		n++
	}
	if n == 0 {
		return ""
	}
	if float64(len(y)-1) < xmax {
		fmt.Fprintf(&sb, "L%.1f %.1f", xs(xmax), ys(last))
	}
	return strings.TrimSpace(sb.String())
}

func width(s series) float64 {
	if s.Width > 0 {
		return s.Width
	}
	return 2
}

func dashAttr(d string) string {
	if d == "" {
		return ""
	}
	return ` stroke-dasharray="` + esc(d) + `"`
}

// niceStep picks a 1, 2 or 5 × 10^k tick spacing with at most max ticks.
func niceStep(span float64, max int) float64 {
	raw := span / float64(max)
	if raw <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.1f", v)
	return strings.TrimSuffix(s, ".0")
}

func esc(s string) string {
	var sb strings.Builder
	_ = xml.EscapeText(&sb, []byte(s))
	return sb.String()
}
