package selector

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
)

// Selector is a parsed, immutable selector. It is safe for concurrent use.
type Selector struct {
	root  Node
	canon string
	hash  string
}

// HashLen is the length of Hash: lower-case hex digits, 64 bits of SHA-256.
const HashLen = 16

func newSelector(root Node) *Selector {
	c := canonical(root)
	sum := sha256.Sum256([]byte(c))
	return &Selector{root: root, canon: c, hash: hex.EncodeToString(sum[:HashLen/2])}
}

// MustParse is Parse for selectors known to be valid (tests, constants); it panics on error.
func MustParse(s string) *Selector {
	sel, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return sel
}

// New builds a selector from a syntax tree, for example the And of two parsed selectors'
// roots. The tree is normalised exactly as Parse would (nested groups flattened, set values
// sorted and deduplicated); New fails if the tree holds something the language cannot say
// (a nil node, an empty group, a key outside [A-Za-z0-9_./-], a value with both kinds of
// quote).
func New(root Node) (*Selector, error) {
	if err := checkTree(root); err != nil {
		return nil, err
	}
	sel, err := Parse(canonical(root))
	if err != nil {
		return nil, fmt.Errorf("build selector: %w", err)
	}
	return sel, nil
}

var errNilNode = errors.New("build selector: nil node")

func checkTree(root Node) error {
	var err error
	if root == nil {
		return errNilNode
	}
	Walk(root, func(n Node) bool {
		if isNil(n) {
			err = errNilNode
			return false
		}
		var children []Node
		switch n := n.(type) {
		case *Not:
			children = []Node{n.X}
		case *And:
			children = n.Terms
		case *Or:
			children = n.Terms
		}
		if slices.ContainsFunc(children, isNil) {
			err = errNilNode
		}
		return err == nil
	})
	return err
}

// isNil reports whether n is nil or a typed nil pointer.
func isNil(n Node) bool {
	switch n := n.(type) {
	case nil:
		return true
	case *All:
		return n == nil
	case *Global:
		return n == nil
	case *Has:
		return n == nil
	case *Compare:
		return n == nil
	case *In:
		return n == nil
	case *Not:
		return n == nil
	case *And:
		return n == nil
	case *Or:
		return n == nil
	}
	return false
}

// Root is the syntax tree. It must not be modified.
func (s *Selector) Root() Node { return s.root }

// String is the canonical form (see the package documentation).
func (s *Selector) String() string { return s.canon }

// Hash is a stable 16-character lower-case hex digest of the canonical form, usable as part
// of an nftables set name. Equal canonical forms have equal hashes.
func (s *Selector) Hash() string { return s.hash }

// Equal reports whether two selectors have the same canonical form.
func (s *Selector) Equal(o *Selector) bool { return s.canon == o.canon }

// Matches reports whether the label set satisfies the selector.
func (s *Selector) Matches(l Labels) bool { return s.root.match(l) }

// IsAll reports whether the selector is all() (which the empty selector also is).
func (s *Selector) IsAll() bool {
	_, ok := s.root.(*All)
	return ok
}

// HasGlobal reports whether global() occurs anywhere in the selector.
func (s *Selector) HasGlobal() bool {
	found := false
	Walk(s.root, func(n Node) bool {
		if _, ok := n.(*Global); ok {
			found = true
		}
		return !found
	})
	return found
}

// LabelKeys returns the label keys the selector refers to, sorted and without duplicates.
// A label set that differs from another only in keys outside this list gets the same result.
func (s *Selector) LabelKeys() []string {
	var keys []string
	Walk(s.root, func(n Node) bool {
		switch n := n.(type) {
		case *Has:
			keys = append(keys, n.Key)
		case *Compare:
			keys = append(keys, n.Key)
		case *In:
			keys = append(keys, n.Key)
		}
		return true
	})
	slices.Sort(keys)
	return slices.Compact(keys)
}
