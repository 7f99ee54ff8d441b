package configsync

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// checkBoltFile verifies the structure of a bbolt database file before
// bbolt maps it. bbolt trusts its memory map: a page id, element offset or
// freelist count damaged on disk makes it read outside the file, which
// kills the process with SIGSEGV or SIGBUS (not a recoverable panic), or
// allocate what a garbage count says. Its own Tx.Check walks the same
// mmap on a goroutine of its own, so it cannot be recovered from either.
// This check reads the file with bounds-checked reads instead and
// verifies what bbolt's Tx.Check verifies: valid meta pages (bbolt's
// choice of the newest valid one), page ids and types, element bounds, key
// order within pages and across branches, inline buckets, the freelist,
// and that every page below the high-water mark is reachable exactly once
// or free, never both.
//
// It depends on bbolt's file format version 2 (go.etcd.io/bbolt
// internal/common), which has not changed since boltdb; a file of another
// version is reported, as bbolt itself does.
func checkBoltFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("configsync: open %s: %w", path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("configsync: open %s: %w", path, err)
	}
	if fi.IsDir() { // a mistake in the data dir, not a damaged store
		return fmt.Errorf("configsync: %w", &fs.PathError{Op: "open", Path: path, Err: syscall.EISDIR})
	}
	c := &boltChecker{f: f, size: fi.Size()}
	if err := c.check(); err != nil {
		return fmt.Errorf("%w: open %s: %v", ErrCorrupt, path, err)
	}
	return nil
}

// bbolt file format version 2.
const (
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	boltPageHeader   = 16
	boltElemSize     = 16
	boltMetaSize     = 64
	boltBucketHeader = 16
	boltBranchPage   = 0x01
	boltLeafPage     = 0x02
	boltMetaPage     = 0x04
	boltFreelistPage = 0x10
	boltBucketLeaf   = 0x01
	boltNoFreelist   = ^uint64(0)
	boltMaxDepth     = 64
)

var le = binary.LittleEndian // bbolt writes native order; Murmur's platforms are little-endian

type boltMeta struct {
	pageSize           uint32
	root, freelist, hw uint64
	txid               uint64
}

type boltChecker struct {
	f         *os.File
	size      int64
	ps        int64
	hw        uint64
	reachable []bool
	freed     map[uint64]bool
}

func (c *boltChecker) read(off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off+n > c.size || off+n < off {
		return nil, fmt.Errorf("read of %d bytes at %d beyond the file (%d bytes)", n, off, c.size)
	}
	b := make([]byte, n)
	if _, err := c.f.ReadAt(b, off); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return b, nil
}

// meta reads and validates a meta page at off (bbolt's Meta.Validate).
func (c *boltChecker) meta(off int64) (boltMeta, error) {
	b, err := c.read(off+boltPageHeader, boltMetaSize)
	if err != nil {
		return boltMeta{}, err
	}
	if le.Uint32(b[0:]) != boltMagic {
		return boltMeta{}, errors.New("not a bbolt database (bad magic)")
	}
	if v := le.Uint32(b[4:]); v != boltVersion {
		return boltMeta{}, fmt.Errorf("bbolt file format %d, this build reads %d", v, boltVersion)
	}
	h := fnv.New64a()
	h.Write(b[:56])
	if h.Sum64() != le.Uint64(b[56:]) {
		return boltMeta{}, errors.New("meta page checksum mismatch")
	}
	return boltMeta{pageSize: le.Uint32(b[8:]), root: le.Uint64(b[16:]), freelist: le.Uint64(b[32:]), hw: le.Uint64(b[40:]), txid: le.Uint64(b[48:])}, nil
}

func (c *boltChecker) check() error {
	if c.size < 2*1024 {
		return fmt.Errorf("file is %d bytes, too short for a database", c.size)
	}
	// The page size comes from the first valid meta page, as bbolt finds
	// it: page 0, else page 1 at any power-of-two page size.
	m0, err0 := c.meta(0)
	ps := int64(m0.pageSize)
	if err0 != nil {
		for i := 0; i <= 14; i++ {
			pos := int64(1024) << i
			if pos >= c.size-1024 {
				break
			}
			if m, err := c.meta(pos); err == nil {
				ps = int64(m.pageSize)
				break
			}
		}
	}
	if ps < 512 || ps > 1<<24 || ps&(ps-1) != 0 {
		if err0 != nil {
			return fmt.Errorf("no valid meta page: %v", err0)
		}
		return fmt.Errorf("page size %d", ps)
	}
	c.ps = ps
	if c.size < 2*ps {
		return fmt.Errorf("file is %d bytes, shorter than two %d-byte pages", c.size, ps)
	}
	m0, err0 = c.meta(0)
	m1, err1 := c.meta(ps)
	var m boltMeta
	switch {
	case err0 == nil && (err1 != nil || m0.txid >= m1.txid):
		m = m0
	case err1 == nil:
		m = m1
	default:
		return fmt.Errorf("no valid meta page: %v; %v", err0, err1)
	}
	if int64(m.pageSize) != ps {
		return fmt.Errorf("meta pages disagree on the page size (%d, %d)", ps, m.pageSize)
	}
	if m.hw < 3 || m.hw > uint64(c.size/ps) {
		return fmt.Errorf("high-water mark %d pages, the file holds %d", m.hw, c.size/ps)
	}
	c.hw = m.hw
	c.reachable = make([]bool, m.hw)
	c.reachable[0], c.reachable[1] = true, true
	c.freed = map[uint64]bool{}
	if m.freelist != boltNoFreelist {
		if err := c.checkFreelist(m.freelist); err != nil {
			return err
		}
	}
	if m.root == 0 {
		return errors.New("root bucket has no page")
	}
	if err := c.checkTree(m.root, 0); err != nil {
		return err
	}
	for id := uint64(2); id < m.hw; id++ {
		if !c.reachable[id] && !c.freed[id] {
			return fmt.Errorf("page %d: neither reachable nor free", id)
		}
	}
	return nil
}

// page reads the header of page id and the page with its overflow, and
// marks them reachable.
func (c *boltChecker) page(id uint64, wantFlags ...uint16) (flags, count uint16, b []byte, err error) {
	if id < 2 || id >= c.hw {
		return 0, 0, nil, fmt.Errorf("page %d: id outside [2, %d)", id, c.hw)
	}
	h, err := c.read(int64(id)*c.ps, boltPageHeader)
	if err != nil {
		return 0, 0, nil, fmt.Errorf("page %d: %v", id, err)
	}
	if got := le.Uint64(h); got != id {
		return 0, 0, nil, fmt.Errorf("page %d: header says page %d", id, got)
	}
	flags, count = le.Uint16(h[8:]), le.Uint16(h[10:])
	overflow := uint64(le.Uint32(h[12:]))
	ok := false
	for _, f := range wantFlags {
		ok = ok || flags == f
	}
	if !ok {
		return 0, 0, nil, fmt.Errorf("page %d: unexpected type %#x", id, flags)
	}
	if id+overflow >= c.hw {
		return 0, 0, nil, fmt.Errorf("page %d: %d overflow pages run past the high-water mark %d", id, overflow, c.hw)
	}
	for i := id; i <= id+overflow; i++ {
		if c.reachable[i] {
			return 0, 0, nil, fmt.Errorf("page %d: referenced twice", i)
		}
		if c.freed[i] {
			return 0, 0, nil, fmt.Errorf("page %d: both in use and free", i)
		}
		c.reachable[i] = true
	}
	b, err = c.read(int64(id)*c.ps, int64(overflow+1)*c.ps)
	if err != nil {
		return 0, 0, nil, fmt.Errorf("page %d: %v", id, err)
	}
	return flags, count, b, nil
}

func (c *boltChecker) checkFreelist(id uint64) error {
	_, count, b, err := c.page(id, boltFreelistPage)
	if err != nil {
		return fmt.Errorf("freelist: %v", err)
	}
	start, n := int64(boltPageHeader), int64(count)
	if count == 0xFFFF {
		if len(b) < boltPageHeader+8 {
			return fmt.Errorf("freelist page %d: truncated", id)
		}
		n = int64(le.Uint64(b[boltPageHeader:]))
		start += 8
	}
	if n < 0 || n > (int64(len(b))-start)/8 {
		return fmt.Errorf("freelist page %d: %d ids do not fit the page", id, n)
	}
	for i := range n {
		fid := le.Uint64(b[start+8*i:])
		if fid < 2 || fid >= c.hw {
			return fmt.Errorf("freelist page %d: free page %d outside [2, %d)", id, fid, c.hw)
		}
		if c.freed[fid] {
			return fmt.Errorf("freelist page %d: page %d freed twice", id, fid)
		}
		if c.reachable[fid] {
			return fmt.Errorf("freelist page %d: page %d is the freelist itself", id, fid)
		}
		c.freed[fid] = true
	}
	return nil
}

// elem is one element of a page: its key, and for a leaf its flags and
// value; for a branch, its child page.
type elem struct {
	key, value []byte
	flags      uint32
	child      uint64
}

// elems decodes the elements of a page body b (header at b[0:16]) with
// every offset checked against b.
func elems(b []byte, flags, count uint16) ([]elem, error) {
	if int64(boltPageHeader)+int64(count)*boltElemSize > int64(len(b)) {
		return nil, fmt.Errorf("%d elements do not fit the page", count)
	}
	out := make([]elem, count)
	for i := range out {
		at := int64(boltPageHeader) + int64(i)*boltElemSize
		e := b[at : at+boltElemSize]
		var pos, ksize, vsize int64
		if flags == boltBranchPage {
			pos, ksize = int64(le.Uint32(e[0:])), int64(le.Uint32(e[4:]))
			out[i].child = le.Uint64(e[8:])
		} else {
			out[i].flags = le.Uint32(e[0:])
			pos, ksize, vsize = int64(le.Uint32(e[4:])), int64(le.Uint32(e[8:])), int64(le.Uint32(e[12:]))
			if out[i].flags&^boltBucketLeaf != 0 {
				return nil, fmt.Errorf("element %d: unknown flags %#x", i, out[i].flags)
			}
		}
		start := at + pos
		if start+ksize+vsize > int64(len(b)) {
			return nil, fmt.Errorf("element %d: key and value run past the page", i)
		}
		out[i].key = b[start : start+ksize]
		out[i].value = b[start+ksize : start+ksize+vsize]
	}
	return out, nil
}

// checkTree verifies the B+tree of one bucket rooted at page root.
func (c *boltChecker) checkTree(root uint64, depth int) error {
	_, err := c.checkPage(root, nil, nil, depth)
	return err
}

// checkPage verifies page id, whose keys must lie in [lo, hi) (nil: no
// bound), and returns its greatest key.
func (c *boltChecker) checkPage(id uint64, lo, hi []byte, depth int) ([]byte, error) {
	if depth > boltMaxDepth {
		return nil, fmt.Errorf("page %d: tree deeper than %d levels", id, boltMaxDepth)
	}
	flags, count, b, err := c.page(id, boltBranchPage, boltLeafPage)
	if err != nil {
		return nil, err
	}
	es, err := elems(b, flags, count)
	if err != nil {
		return nil, fmt.Errorf("page %d: %v", id, err)
	}
	if err := checkOrder(es, lo, hi); err != nil {
		return nil, fmt.Errorf("page %d: %v", id, err)
	}
	if flags == boltLeafPage {
		for i, e := range es {
			if e.flags&boltBucketLeaf != 0 {
				if err := c.checkBucket(e.value, depth+1); err != nil {
					return nil, fmt.Errorf("page %d: bucket %q: %v", id, e.key, err)
				}
			}
			if i == len(es)-1 {
				return e.key, nil
			}
		}
		return nil, nil
	}
	if len(es) == 0 {
		return nil, fmt.Errorf("page %d: branch page without elements", id)
	}
	var last []byte
	for i, e := range es {
		next := hi
		if i+1 < len(es) {
			next = es[i+1].key
		}
		if last, err = c.checkPage(e.child, e.key, next, depth+1); err != nil {
			return nil, err
		}
	}
	return last, nil
}

// checkBucket verifies a bucket value: a header, then either a root page
// or an inline leaf page.
func (c *boltChecker) checkBucket(v []byte, depth int) error {
	if len(v) < boltBucketHeader {
		return fmt.Errorf("value of %d bytes, shorter than a bucket header", len(v))
	}
	if root := le.Uint64(v); root != 0 {
		return c.checkTree(root, depth)
	}
	if depth > boltMaxDepth {
		return fmt.Errorf("buckets nested deeper than %d levels", boltMaxDepth)
	}
	p := v[boltBucketHeader:]
	if len(p) < boltPageHeader {
		return errors.New("inline page truncated")
	}
	if fl := le.Uint16(p[8:]); fl != boltLeafPage {
		return fmt.Errorf("inline page of type %#x", fl)
	}
	es, err := elems(p, boltLeafPage, le.Uint16(p[10:]))
	if err != nil {
		return fmt.Errorf("inline page: %v", err)
	}
	if err := checkOrder(es, nil, nil); err != nil {
		return fmt.Errorf("inline page: %v", err)
	}
	for _, e := range es {
		if e.flags&boltBucketLeaf != 0 {
			if err := c.checkBucket(e.value, depth+1); err != nil {
				return fmt.Errorf("bucket %q: %v", e.key, err)
			}
		}
	}
	return nil
}

// checkOrder: keys strictly ascending, within [lo, hi).
func checkOrder(es []elem, lo, hi []byte) error {
	for i, e := range es {
		if i == 0 && lo != nil && bytes.Compare(e.key, lo) < 0 {
			return fmt.Errorf("key %q below its parent's %q", e.key, lo)
		}
		if i > 0 && bytes.Compare(es[i-1].key, e.key) >= 0 {
			return fmt.Errorf("keys out of order at element %d (%q after %q)", i, e.key, es[i-1].key)
		}
		if hi != nil && bytes.Compare(e.key, hi) >= 0 {
			return fmt.Errorf("key %q not below the next branch key %q", e.key, hi)
		}
	}
	return nil
}
