package trend

import (
	"math"
	"sort"
)

// ExactLimit is the largest number of values for which MannKendall computes
// the exact null distribution of S; above it, the normal approximation with
// the tie correction is used.
const ExactLimit = 60

// Result is the outcome of a one-sided Mann-Kendall test for an upward
// trend. For a downward trend, test the negated series.
type Result struct {
	N     int     // values tested (NaNs skipped)
	S     int     // Kendall's S: pairs in increasing order minus pairs in decreasing order
	VarS  float64 // variance of S under no trend, corrected for ties
	Z     float64 // normal score of S, with continuity correction
	P     float64 // probability of S or more under no trend (one-sided)
	Exact bool    // P comes from the exact null distribution
}

// MannKendall tests xs for an upward monotonic trend. Under the null
// hypothesis every ordering of the values is equally likely; P is the
// probability of an S at least as large. For N ≤ ExactLimit, P is exact,
// ties included (the null distribution of the inversion count of a
// multiset is a q-multinomial coefficient); above, it is the normal
// approximation with the tie-corrected variance and a continuity
// correction. Fewer than two values give P = 1.
func MannKendall(xs []float64) Result {
	vals := present(xs)
	n := len(vals)
	r := Result{N: n, P: 1}
	if n < 2 {
		return r
	}
	s, inv := 0, 0
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			switch {
			case vals[j] > vals[i]:
				s++
			case vals[j] < vals[i]:
				s--
				inv++
			}
		}
	}
	groups := tieGroups(vals)
	r.S = s
	r.VarS = varS(n, groups)
	if r.VarS > 0 {
		switch {
		case s > 0:
			r.Z = (float64(s) - 1) / math.Sqrt(r.VarS)
		case s < 0:
			r.Z = (float64(s) + 1) / math.Sqrt(r.VarS)
		}
	}
	if len(groups) == 1 { // all values equal: no evidence of anything
		return r
	}
	if n <= ExactLimit {
		r.Exact = true
		r.P = lowerTail(inversions(groups), inv)
		return r
	}
	r.P = 0.5 * math.Erfc(r.Z/math.Sqrt2)
	return r
}

// present returns the values of xs that are not NaN.
func present(xs []float64) []float64 {
	out := make([]float64, 0, len(xs))
	for _, x := range xs {
		if !math.IsNaN(x) {
			out = append(out, x)
		}
	}
	return out
}

// tieGroups returns the sizes of the groups of equal values, in increasing
// order of value.
func tieGroups(vals []float64) []int {
	s := append([]float64(nil), vals...)
	sort.Float64s(s)
	var groups []int
	for i := 0; i < len(s); {
		j := i + 1
		for j < len(s) && s[j] == s[i] {
			j++
		}
		groups = append(groups, j-i)
		i = j
	}
	return groups
}

// varS is the variance of S under no trend, corrected for ties.
func varS(n int, groups []int) float64 {
	v := float64(n*(n-1)*(2*n+5)) / 18
	for _, t := range groups {
		v -= float64(t*(t-1)*(2*t+5)) / 18
	}
	return v
}

// inversions returns the number of distinct arrangements of a multiset
// (group sizes in increasing order of value) having k inversions, for each
// k: the coefficients of the q-multinomial [n; m1, m2, ...]_q, built as a
// product of q-binomials, one per group merged into the smaller values.
func inversions(groups []int) []float64 {
	poly := []float64{1}
	m := 0
	for _, g := range groups {
		if g == 1 {
			poly = mulOnes(poly, m+1)
		} else {
			poly = mulPoly(poly, qBinomial(m, g))
		}
		m += g
	}
	return poly
}

// mulOnes multiplies p by 1 + q + ... + q^(k-1), as a sliding sum.
func mulOnes(p []float64, k int) []float64 {
	out := make([]float64, len(p)+k-1)
	var sum float64
	for i := range out {
		if i < len(p) {
			sum += p[i]
		}
		if j := i - k; j >= 0 {
			sum -= p[j]
		}
		out[i] = sum
	}
	return out
}

// qBinomial returns the coefficients of the q-binomial [a+b; b]_q: the
// number of words of a small letters and b large ones with k pairs
// "large before small", for each k.
func qBinomial(a, b int) []float64 {
	if b == 1 { // 1 + q + ... + q^a
		out := make([]float64, a+1)
		for i := range out {
			out[i] = 1
		}
		return out
	}
	// g[i] is G(i, j) for the current j: words with i small and j large
	// letters. G(i, j) = G(i, j-1) + q^j G(i-1, j): the last letter is
	// large, or it is small and follows all j large ones.
	g := make([][]float64, a+1)
	for i := range g {
		g[i] = []float64{1} // j = 0
	}
	for j := 1; j <= b; j++ {
		next := make([][]float64, a+1)
		next[0] = []float64{1}
		for i := 1; i <= a; i++ {
			p := make([]float64, i*j+1)
			copy(p, g[i])
			for k, c := range next[i-1] {
				p[k+j] += c
			}
			next[i] = p
		}
		g = next
	}
	return g[a]
}

func mulPoly(a, b []float64) []float64 {
	out := make([]float64, len(a)+len(b)-1)
	for i, x := range a {
		if x == 0 {
			continue
		}
		for j, y := range b {
			out[i+j] += x * y
		}
	}
	return out
}

// lowerTail returns the share of the counts at index ≤ k.
func lowerTail(counts []float64, k int) float64 {
	var tail, total float64
	for i, c := range counts {
		total += c
		if i <= k {
			tail += c
		}
	}
	return math.Min(1, tail/total)
}
