package web

import "strings"

// maxDiffCells bounds the table of the line diff (old lines × new lines,
// after the common head and tail are set aside): 4 bytes a cell, 16 MB.
// Two templates that differ in more than that are shown as one replaced
// block.
const maxDiffCells = 4 << 20

// diffOp says what a line of a diff is.
type diffOp int

const (
	diffSame diffOp = iota
	diffDel         // only in the old text
	diffAdd         // only in the new text
)

// diffLine is a line of a line diff, with its number in the old and the new
// text (0 where it has none).
type diffLine struct {
	Op   diffOp
	Old  int
	New  int
	Text string
}

// Class is the line's CSS class.
func (l diffLine) Class() string {
	return [...]string{"same", "del", "add"}[l.Op]
}

// Marker is the line's sign, as in a unified diff.
func (l diffLine) Marker() string {
	return [...]string{" ", "-", "+"}[l.Op]
}

// lineDiff compares two texts line by line with a longest common
// subsequence, and returns every line of both in order.
func lineDiff(oldText, newText string) []diffLine {
	a, b := splitLines(oldText), splitLines(newText)
	var out []diffLine
	// The common head and tail need no table.
	head := 0
	for head < len(a) && head < len(b) && a[head] == b[head] {
		out = append(out, diffLine{diffSame, head + 1, head + 1, a[head]})
		head++
	}
	tail := 0
	for tail < len(a)-head && tail < len(b)-head && a[len(a)-1-tail] == b[len(b)-1-tail] {
		tail++
	}
	ma, mb := a[head:len(a)-tail], b[head:len(b)-tail]
	out = append(out, middleDiff(ma, mb, head)...)
	for i := 0; i < tail; i++ {
		oi, ni := len(a)-tail+i, len(b)-tail+i
		out = append(out, diffLine{diffSame, oi + 1, ni + 1, a[oi]})
	}
	return out
}

// middleDiff diffs a and b, which start at line offset+1 of both texts.
func middleDiff(a, b []string, offset int) []diffLine {
	n, m := len(a), len(b)
	var out []diffLine
	if n*m > maxDiffCells {
		for i, s := range a {
			out = append(out, diffLine{diffDel, offset + i + 1, 0, s})
		}
		for j, s := range b {
			out = append(out, diffLine{diffAdd, 0, offset + j + 1, s})
		}
		return out
	}
	// lcs[i*(m+1)+j] is the length of the longest common subsequence of
	// a[i:] and b[j:].
	w := m + 1
	lcs := make([]int32, (n+1)*w)
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i*w+j] = lcs[(i+1)*w+j+1] + 1
			} else {
				lcs[i*w+j] = max(lcs[(i+1)*w+j], lcs[i*w+j+1])
			}
		}
	}
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			out = append(out, diffLine{diffSame, offset + i + 1, offset + j + 1, a[i]})
			i++
			j++
		case j == m || (i < n && lcs[(i+1)*w+j] >= lcs[i*w+j+1]):
			out = append(out, diffLine{diffDel, offset + i + 1, 0, a[i]})
			i++
		default:
			out = append(out, diffLine{diffAdd, 0, offset + j + 1, b[j]})
			j++
		}
	}
	return out
}

// splitLines splits a text into its lines; a final line end does not start
// another line.
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// diffChanged reports whether a diff has any line that differs.
func diffChanged(d []diffLine) bool {
	for _, l := range d {
		if l.Op != diffSame {
			return true
		}
	}
	return false
}
